"""Errors of the knowledge pipeline, as leaves of the one error tree in ``core.errors``.

::

    ClientError
    └── ParseFailed            422 parse_failed       (the upload cannot be read: truncated,
                                                       encrypted, zip bomb, too slow, too big)
    DependencyUnavailable
    └── EmbeddingFailed        503 embedding_failed   (the embedding provider failed us)

They live here rather than in ``core/`` because only the knowledge layer raises them; the
gateway maps them by their ``status`` and ``code`` like every other ``TridiumError``.
"""

from __future__ import annotations

from typing import Any

from core.errors import ClientError, DependencyUnavailable


class ParseFailed(ClientError):
    """A document could not be turned into text.

    ``reason`` is a short, human-readable sentence that is safe to show the uploader and to
    store as the upload's failure reason (it never contains document content).
    """

    status = 422
    code = "parse_failed"

    def __init__(self, reason: str, *, details: Any = None) -> None:
        super().__init__(f"could not parse the document: {reason}", details=details)
        self.reason = reason


class EmbeddingFailed(DependencyUnavailable):
    """The embedding provider did not give us vectors (down, slow, refused, or malformed).

    It is a dependency failure, not the client's fault, hence 503; ``details['reason']`` is
    one of ``timeout``, ``connection``, ``auth``, ``rate_limited``, ``rejected``,
    ``provider_error``, ``bad_response``.
    """

    code = "embedding_failed"


__all__ = ["EmbeddingFailed", "ParseFailed"]
