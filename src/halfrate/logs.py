"""Logging set-up for the command line, with a filter that keeps API keys out of every record."""

from __future__ import annotations

import logging
import os
import re

_KEY_PATTERN = re.compile(r"\b(sk-[A-Za-z0-9_\-]{6})[A-Za-z0-9_\-]+")
_SECRET_VARS = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "HALFRATE_WEB_SECRET",
    "HALFRATE_SECRET_KEY",
)
# A one-time password link's token, in an address a log line may show.
_LINK_TOKEN = re.compile(r"\b(token=)[A-Za-z0-9_\-]{8,}")


def redact(text: str) -> str:
    for name in _SECRET_VARS:
        value = os.environ.get(name)
        if not value:
            continue
        # The value as set, and as it is once stripped (a key read from a file keeps its line
        # break in the variable, not in the header or message that shows it).
        for shown in {value, value.strip()}:
            if len(shown) >= 8:
                text = text.replace(shown, f"<{name}>")
    return _LINK_TOKEN.sub(r"\1…", _KEY_PATTERN.sub(r"\1…", text))


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with secrets masked (keys by pattern and by value)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class RedactingFormatter(logging.Formatter):
    """Formats a record whole (message, traceback, stack) and masks the secrets in all of it:
    a traceback carries the messages of the exceptions in it, keys included."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure(verbose: bool) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter())
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    # The SDKs' HTTP clients log every request at INFO; that is noise for halfrate's users.
    for noisy in ("httpx", "httpx2", "openai", "anthropic", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
