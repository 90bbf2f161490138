"""Core: settings, the error tree, tenancy types, the event envelope, telemetry."""
