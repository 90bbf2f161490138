"""HTTP routers: thin translations from HTTP to service calls and back."""
