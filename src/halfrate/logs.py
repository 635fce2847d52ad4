"""Logging set-up for the command line, with a filter that keeps API keys out of every record."""

from __future__ import annotations

import logging
import os
import re

_KEY_PATTERN = re.compile(r"\b(sk-[A-Za-z0-9_\-]{6})[A-Za-z0-9_\-]+")
_SECRET_VARS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")


def redact(text: str) -> str:
    for name in _SECRET_VARS:
        value = os.environ.get(name)
        if value and len(value) >= 8:
            text = text.replace(value, f"<{name}>")
    return _KEY_PATTERN.sub(r"\1…", text)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with secrets masked (keys by pattern and by value)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def configure(verbose: bool) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    # The SDKs' HTTP clients log every request at INFO; that is noise for halfrate's users.
    for noisy in ("httpx", "httpx2", "openai", "anthropic", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
