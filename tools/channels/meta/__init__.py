"""What Meta's messaging products share: webhook signatures and the Graph error object."""

from .errors import GraphError, parse_graph_error
from .signature import SIGNATURE_HEADER, sign_body, verify_signature

__all__ = ["SIGNATURE_HEADER", "GraphError", "parse_graph_error", "sign_body", "verify_signature"]
