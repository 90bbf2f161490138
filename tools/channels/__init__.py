"""Messaging channels of Luddy's inbox: one folder per provider (connector, parsing, sandbox).

``meta`` holds what WhatsApp Cloud and Instagram share (the ``X-Hub-Signature-256`` check,
Meta's error object); ``instagram``, ``email`` and ``webchat`` are channels.
"""
