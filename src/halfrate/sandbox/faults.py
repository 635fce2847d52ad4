"""Fault injection: which calls the sandbox answers with an error instead of an answer.

A :class:`Faults` holds a rate (0..1) per fault kind, plus options. The spec string of
``halfrate sandbox --faults`` is comma-separated ``name=value`` items, for example
``sync_429=0.2,sync_500=0.05,retry_after=0.5,seed=7``.

Determinism: whether the n-th call with a given body faults depends only on the seed, the fault
kind, the body's digest and n (:meth:`Faults.fires`). Concurrency cannot change it, and a retry of
the same body is a new n, so it can succeed. :class:`CallCounter` hands out the n.

New kinds (batch-level ones, later) are one more :class:`FaultKind` in :data:`FAULT_KINDS`; the
parser, the error messages and the validation pick them up from there.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from halfrate.errors import InputError


@dataclass(frozen=True, slots=True)
class FaultKind:
    name: str
    applies_to: str  # which calls it is rolled for: "sync" (every one) or "flex" (flex only)
    providers: tuple[str, ...]
    meaning: str  # one line for help texts


FAULT_KINDS: Mapping[str, FaultKind] = MappingProxyType(
    {
        kind.name: kind
        for kind in (
            FaultKind(
                "flex_unavailable",
                "flex",
                ("openai",),
                "flex calls are answered 429 resource_unavailable",
            ),
            FaultKind(
                "sync_429",
                "sync",
                ("openai", "anthropic"),
                "sync calls are answered 429 rate limit, with retry-after",
            ),
            FaultKind("sync_500", "sync", ("openai", "anthropic"), "sync calls are answered 500"),
            FaultKind("sync_529", "sync", ("anthropic",), "Anthropic sync calls are answered 529"),
        )
    }
)
OPTIONS = ("retry_after", "seed")
DEFAULT_RETRY_AFTER = 1.0


def known_names() -> str:
    return ", ".join([*FAULT_KINDS, *OPTIONS])


def kinds_for(applies_to: str, provider: str) -> tuple[str, ...]:
    """The fault kinds rolled for one kind of call to ``provider``, in registry order."""
    return tuple(
        kind.name
        for kind in FAULT_KINDS.values()
        if kind.applies_to == applies_to and provider in kind.providers
    )


def describe() -> str:
    """Every name of the spec grammar with its meaning, one per line (for ``--help``)."""
    lines = [f"{kind.name}=RATE  {kind.meaning}" for kind in FAULT_KINDS.values()]
    lines.append(f"retry_after=SECONDS  the retry-after of a 429 (default {DEFAULT_RETRY_AFTER:g})")
    lines.append("seed=INT  seeds every decision (default 0)")
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Faults:
    """Fault rates by kind name (absent: 0), the retry-after seconds of a 429, and the seed."""

    rates: Mapping[str, float] = field(default_factory=dict)
    retry_after: float = DEFAULT_RETRY_AFTER
    seed: int = 0

    def __hash__(self) -> int:
        return hash((tuple(sorted(self.rates.items())), self.retry_after, self.seed))

    def __post_init__(self) -> None:
        for name, rate in self.rates.items():
            if name not in FAULT_KINDS:
                raise InputError(f"unknown fault kind {name!r}; known names: {known_names()}")
            if not 0.0 <= rate <= 1.0:
                raise InputError(f"fault rate {name}={rate} is outside 0..1")
        if not (math.isfinite(self.retry_after) and self.retry_after >= 0):
            raise InputError(f"retry_after={self.retry_after} must be a number >= 0")
        # A read-only copy: the dataclass is frozen, its mapping should be too.
        object.__setattr__(self, "rates", MappingProxyType(dict(self.rates)))

    @property
    def active(self) -> bool:
        """Whether any kind can fire (when not, the sandbox skips fault work entirely)."""
        return any(rate > 0 for rate in self.rates.values())

    def rate(self, kind: str) -> float:
        return self.rates.get(kind, 0.0)

    def fires(self, kind: str, digest: bytes, n: int) -> bool:
        """Whether fault ``kind`` hits the ``n``-th call (0-based) of the body with ``digest``."""
        rate = self.rates.get(kind, 0.0)
        if rate <= 0.0:
            return False
        if rate >= 1.0:
            return True
        return draw(self.seed, kind, digest, n) < rate

    def first(self, kinds: tuple[str, ...], digest: bytes, n: int) -> str | None:
        """The first of ``kinds`` (in the order given) that fires for this call, if any."""
        for kind in kinds:
            if self.fires(kind, digest, n):
                return kind
        return None


def draw(seed: int, kind: str, digest: bytes, n: int) -> float:
    """A number in [0, 1) fixed by its arguments: the dice of one fault decision."""
    key = f"{seed}\x00{kind}\x00{n}\x00".encode()
    raw = hashlib.blake2b(key + digest, digest_size=8).digest()
    return int.from_bytes(raw, "big") / 2.0**64


NO_FAULTS = Faults()


def parse_faults(spec: str) -> Faults:
    """Parse ``name=value[,name=value...]``; raises InputError naming the offending item."""
    rates: dict[str, float] = {}
    options: dict[str, float | int] = {}
    if not spec.strip():
        return NO_FAULTS
    for position, raw in enumerate(spec.split(","), start=1):
        item = raw.strip()
        if not item:
            raise _bad(raw, f"item {position} is empty")
        name, equals, value = (part.strip() for part in item.partition("="))
        if not equals:
            raise _bad(item, "expected name=value")
        if name not in FAULT_KINDS and name not in OPTIONS:
            raise _bad(item, f"unknown name {name!r}")
        if name in rates or name in options:
            raise _bad(item, f"{name!r} is given twice")
        if name == "seed":
            try:
                options[name] = int(value)
            except ValueError:
                raise _bad(item, "seed must be an integer") from None
            continue
        try:
            number = float(value)
        except ValueError:
            raise _bad(item, f"{value!r} is not a number") from None
        if not math.isfinite(number):
            raise _bad(item, f"{value!r} is not a finite number")
        if name == "retry_after":
            if number < 0:
                raise _bad(item, "retry_after must be >= 0 seconds")
            options[name] = number
        elif not 0.0 <= number <= 1.0:
            raise _bad(item, "a rate must be between 0 and 1")
        else:
            rates[name] = number
    return Faults(
        rates,
        retry_after=float(options.get("retry_after", DEFAULT_RETRY_AFTER)),
        seed=int(options.get("seed", 0)),
    )


def _bad(item: str, reason: str) -> InputError:
    return InputError(f"bad fault spec item {item!r}: {reason}; known names: {known_names()}")


def as_faults(value: Faults | str | None) -> Faults:
    """What ``create_app(faults=...)`` accepts: a Faults, a spec string, or None (no faults)."""
    if value is None:
        return NO_FAULTS
    if isinstance(value, str):
        return parse_faults(value)
    return value


class CallCounter:
    """How many calls each body digest has had: the ``n`` of :meth:`Faults.fires`.

    Thread-safe. It only grows while faults are active (the sandbox does not count otherwise),
    by one small entry per distinct body.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[bytes, int] = {}

    def next(self, digest: bytes) -> int:
        with self._lock:
            n = self._counts.get(digest, 0)
            self._counts[digest] = n + 1
        return n
