"""The caches, seen and cleared (a part of :class:`halfrate.Halfrate`; `halfrate cache stats`
and `halfrate cache clear`): per feature, the response cache's live entries, the requests it
answered and what they saved, beside the providers' prompt caches' hit rate and saving from the
same report code as `halfrate report`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from halfrate.ledger.report import ReportMaker
from halfrate.money import dollars
from halfrate.routing.rules import Policy
from halfrate.store import Store
from halfrate.store.ledger_reads import Scope
from halfrate.urgency import parse_duration


@dataclass(frozen=True)
class CacheStat:
    feature: str  # "(none)": requests without a feature
    entries: int  # answers that may answer identical requests now
    hits: int  # requests the response cache answered (all time)
    saved: Decimal  # what those would have cost in realtime
    prompt_cache_hit_rate: float | None  # cached ÷ input tokens at the providers
    prompt_cache_saved: Decimal


class CacheAdmin:
    """The cache methods of :class:`halfrate.Halfrate`."""

    store: Store
    policy: Policy

    def cache_stats(self, feature: str | None = None) -> list[CacheStat]:
        """Per feature (or the one asked for): the response cache's live entries (answers
        within the policy's ``response_cache`` time, not cleared), its hits and savings, and
        the providers' prompt-cache hit rate and saving. Features with none of these are left
        out."""
        window = self.policy.response_cache
        entries: dict[str | None, int] = {}
        if window is not None:
            entries = self.store.response_cache.entries(_since(window), feature)
        hits = self.store.response_cache.hits(feature)
        made = ReportMaker(self.store).breakdown("feature", Scope(feature=feature))
        lines = {(None if line.key == "(none)" else line.key): line for line in made.lines}
        found = []
        for name in sorted(set(entries) | set(hits) | set(lines), key=lambda n: (n is None, n)):
            line = lines.get(name)
            count, nano = hits.get(name, (0, 0))
            if not (entries.get(name) or count or (line is not None and line.cached_tokens)):
                continue
            found.append(
                CacheStat(
                    feature="(none)" if name is None else name,
                    entries=entries.get(name, 0),
                    hits=count,
                    saved=dollars(nano),
                    prompt_cache_hit_rate=None if line is None else line.prompt_cache_hit_rate,
                    prompt_cache_saved=Decimal(0) if line is None else line.prompt_cache_saved,
                )
            )
        return found

    def clear_response_cache(
        self, feature: str | None = None, older_than: str | None = None, *, by: str | None = None
    ) -> int:
        """Stop answers (of ``feature``, or every feature) stored more than ``older_than`` ago
        (a span like ``3d``; None: all of them) from answering identical requests. The answers
        stay in their jobs' results. Returns how many were taken out; in the audit log."""
        before = time.time()
        if older_than is not None:
            before -= parse_duration(older_than).total_seconds()
        window = self.policy.response_cache
        since = None if window is None else _since(window)
        return self.store.response_cache.clear(feature, before, by, since)


def _since(window: timedelta) -> float:
    return time.time() - window.total_seconds()
