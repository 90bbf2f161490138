"""A local, simulated e-mail provider: SMTP server + Mailgun-style inbound posts (``app``)."""

from .app import SANDBOX_NAME, CapturedEmail, EmailSandbox, EmailSandboxConfig, create_app, start_smtp
from .server import RunningEmailSandbox, running_email_sandbox

__all__ = [
    "SANDBOX_NAME",
    "CapturedEmail",
    "EmailSandbox",
    "EmailSandboxConfig",
    "RunningEmailSandbox",
    "create_app",
    "running_email_sandbox",
    "start_smtp",
]
