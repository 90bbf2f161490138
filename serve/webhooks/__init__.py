"""Provider webhooks at the edge (ADR 0006, 0008, 0009).

- ``lean``: ``POST /webhooks/asaas`` as a plain ASGI handler, past FastAPI's routing and
  dependencies (called by ``serve.middleware.EdgeMiddleware``).
- ``listener``: the ``WebhookListener`` Serve deployment and the uvicorn process it
  supervises — the gateway app, restricted to ``/webhooks/*`` and ``/health``, on its own
  port (``TRIDIUM_WEBHOOK_PORT``), so provider deliveries skip Serve's HTTP plumbing.
"""
