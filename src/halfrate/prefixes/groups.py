"""Grouping a submission's requests by the prefix they share (docs/prompt-caching.md).

Lines stream through :meth:`PrefixFinder.tag` in order. A request joins the deepest prefix it
shares with a request seen before it (in this submission, or queued from an earlier one);
the first request of a group learns it has one only when the second arrives, so it is listed
in :meth:`PrefixFinder.founders` for the store to tag in the same transaction. Only prefixes of
at least :data:`~halfrate.prefixes.MIN_CACHEABLE_TOKENS` tokens count, and only between
different requests: a duplicate is dedup's to answer, not a reader of the cache.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from typing import Any

import orjson

from halfrate.prefixes.parts import MIN_CACHEABLE_TOKENS, read_prompt
from halfrate.records import ParsedLine, PrefixTag

# A body shorter than this many characters cannot hold a cacheable prefix (a token is at
# least one character): it is not even parsed.
MIN_BODY_CHARS = MIN_CACHEABLE_TOKENS
# First sightings remembered per submission, at most: memory stays bounded on a huge submission
# of long, unrelated requests (groups already formed keep growing past it).
MAX_REMEMBERED = 500_000


@dataclass(slots=True)
class _Seen:
    """The first request seen with a prefix, until a second one makes them a group."""

    key: str
    whole: str
    parts_markable: bool
    grouped: bool = False  # it founded a group already: it stays in that one


class PrefixFinder:
    """Tags the lines of one submission with their prefix group. ``queued``: the groups that
    requests waiting in the store already form (read once: a set, not a query per request)."""

    def __init__(self, queued: Set[str] = frozenset()) -> None:
        self._queued = queued
        self._first: dict[str, _Seen] = {}
        self._groups: dict[str, int] = {}  # digest → tokens of the prefix
        self._founders: list[tuple[str, PrefixTag]] = []

    def tag(self, line: ParsedLine, body: dict[str, Any] | None = None) -> ParsedLine:
        """``line`` with the prefix it shares, if any. ``body``: the line's body, where the
        caller has parsed it already (read, never changed)."""
        if len(line.body_json) < MIN_BODY_CHARS:
            return line
        if body is None:
            body = orjson.loads(line.body_json)
        # Prefixes too short to reach the minimum are never offered, nor remembered.
        prompt = read_prompt(line.provider, line.endpoint, line.model, body, MIN_CACHEABLE_TOKENS)
        if prompt is None or not prompt.boundaries:
            return line
        markable = not prompt.own_marks and (line.route is None or line.route.prompt_cache)
        for parts, digest in reversed(prompt.boundaries):
            tokens = self._groups.get(digest)
            if tokens is None:
                seen = self._first.get(digest)
                if seen is not None and not seen.grouped and seen.whole != prompt.whole:
                    tokens = prompt.tokens_before(parts)
                    if tokens < MIN_CACHEABLE_TOKENS:
                        break  # a shallower prefix is shorter still
                    seen.grouped = True
                    marked = parts if seen.parts_markable else None
                    self._founders.append((seen.key, PrefixTag(digest, tokens, marked)))
                elif seen is None and digest in self._queued:
                    tokens = prompt.tokens_before(parts)
                    if tokens < MIN_CACHEABLE_TOKENS:
                        break
                else:
                    continue
                self._groups[digest] = tokens
            return _tagged(line, PrefixTag(digest, tokens, parts if markable else None))
        mine = _Seen(line.key, prompt.whole, markable)
        first = self._first
        for _, digest in prompt.boundaries:
            seen = first.get(digest)
            if (seen is None and len(first) < MAX_REMEMBERED) or (
                seen is not None and seen.grouped
            ):
                first[digest] = mine
        return line

    def founders(self) -> list[tuple[str, PrefixTag]]:
        """(key, prefix) of each group's first request, tagged only once the group formed."""
        return list(self._founders)


def _tagged(line: ParsedLine, tag: PrefixTag) -> ParsedLine:
    # Built directly, not with dataclasses.replace (a third of the detection's time): this runs
    # once per request of a submission.
    return ParsedLine(
        line.line_no,
        line.key,
        line.provider,
        line.endpoint,
        line.model,
        line.body_json,
        line.route,
        line.requested_model,
        line.deadline,
        line.guard_at,
        line.tags_json,
        line.feature,
        line.team,
        line.content_hash,
        tag,
    )
