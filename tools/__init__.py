"""Tools: what agents may call, and the connectors to the outside world (one per vendor)."""
