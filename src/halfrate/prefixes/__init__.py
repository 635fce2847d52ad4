"""Shared prompt prefixes, for the providers' prompt caches (docs/prompt-caching.md): what a
request's cacheable parts are and how to mark them (:mod:`.parts`), and which requests of a
submission share them (:mod:`.groups`). Pure logic: no store, no network."""

from halfrate.prefixes.groups import PrefixFinder
from halfrate.prefixes.parts import (
    MIN_CACHEABLE_TOKENS,
    mark_prefix,
    read_prompt,
    smallest_group,
)

__all__ = [
    "MIN_CACHEABLE_TOKENS",
    "PrefixFinder",
    "mark_prefix",
    "read_prompt",
    "smallest_group",
]
