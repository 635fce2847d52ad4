"""JSON values as the sandbox passes them around: their type, their bytes, their digest.

Everything here is pure and cheap; the per-line batch generator calls some of it 50,000 times.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

JSON = dict[str, Any]


def body_digest(obj: Any) -> bytes:
    """A 32-byte digest of a JSON value with sorted keys, so equal bodies give equal seeds."""
    try:
        canonical = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # e.g. an integer beyond 64 bits: fall back to the slower stdlib encoder
        import json

        canonical = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.blake2b(canonical, digest_size=32).digest()


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)
