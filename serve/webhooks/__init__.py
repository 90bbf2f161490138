"""Provider webhooks at the edge (ADR 0006, 0008, 0009).

- ``lean``: ``POST /webhooks/asaas`` as a plain ASGI handler, past FastAPI's routing and
  dependencies (called by ``serve.middleware.EdgeMiddleware``).
"""
