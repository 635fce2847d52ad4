"""Fault injection: which calls, batches and batch lines the sandbox makes go wrong.

A :class:`Faults` holds a rate (0..1) per fault kind, plus options. The spec string of
``halfrate sandbox --faults`` is comma-separated ``name=value`` items, for example
``sync_429=0.2,line_500=0.05,batch_404=1,not_found_tries=3,retry_after=0.5,seed=7``.

Each kind says what it is rolled for (:attr:`FaultKind.applies_to`): every synchronous call
(``sync``), flex calls (``flex``), each batch line when its batch runs (``line``), each created
batch (``batch``), each HTTP request to a file or batch endpoint (``http``), or each uploaded
file (``file``).

Determinism: whether the n-th roll for a given digest faults depends only on the seed, the fault
kind, the digest and n (:meth:`Faults.fires`). Concurrency cannot change it, and a retry of the
same body is a new n, so it can succeed. :class:`CallCounter` hands out the n; what the digest
is of (a request body, a batch's content, a route) is up to :mod:`halfrate.sandbox.faults.dice`.

A new kind is one more :class:`FaultKind` in :data:`FAULT_KINDS`; the parser, the error messages,
the validation and ``--help`` pick it up from there.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from halfrate.errors import InputError

BOTH = ("openai", "anthropic")


@dataclass(frozen=True, slots=True)
class FaultKind:
    name: str
    applies_to: str  # what it is rolled for: sync, flex, line, batch, http or file
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
            FaultKind(
                "line_429",
                "line",
                BOTH,
                "batch lines fail rate-limited (OpenAI 429 line, Anthropic rate_limit_error)",
            ),
            FaultKind(
                "line_500",
                "line",
                BOTH,
                "batch lines fail with a server error (OpenAI 500 line, Anthropic api_error)",
            ),
            FaultKind(
                "line_invalid",
                "line",
                BOTH,
                "batch lines fail as invalid, a final answer (400 invalid_request_error)",
            ),
            FaultKind(
                "duplicate_lines",
                "line",
                BOTH,
                "batch lines appear twice in the output or results (charged once)",
            ),
            FaultKind(
                "missing_lines",
                "line",
                BOTH,
                "batch lines never run and appear in no output, error file or results",
            ),
            FaultKind(
                "line_schema_break",
                "line",
                BOTH,
                "structured batch lines succeed, but their JSON answer breaks the schema",
            ),
            FaultKind(
                "batch_invalid",
                "batch",
                ("openai",),
                "OpenAI batches fail validation, errors naming 1-3 of their lines",
            ),
            FaultKind(
                "expire_partway",
                "batch",
                BOTH,
                "batches expire after about half their lines ran",
            ),
            FaultKind(
                "slow_finalizing",
                "batch",
                BOTH,
                "batches end finalizing_seconds later (OpenAI: stays finalizing)",
            ),
            FaultKind(
                "batch_404",
                "batch",
                BOTH,
                "the first not_found_tries retrieves of a new batch answer 404",
            ),
            FaultKind(
                "http_429",
                "http",
                BOTH,
                "file and batch requests are answered 429 with retry-after, doing nothing",
            ),
            FaultKind(
                "http_500",
                "http",
                BOTH,
                "file and batch requests are answered 500, doing nothing",
            ),
            FaultKind(
                "http_timeout",
                "http",
                BOTH,
                "file and batch requests take effect, but the answer waits timeout_seconds",
            ),
            FaultKind(
                "file_not_found",
                "file",
                ("openai",),
                "the first not_found_tries uses of an uploaded file's id answer 404",
            ),
        )
    }
)
OPTIONS = ("retry_after", "finalizing_seconds", "not_found_tries", "timeout_seconds", "seed")
DEFAULT_RETRY_AFTER = 1.0
DEFAULT_FINALIZING_SECONDS = 2.0
DEFAULT_NOT_FOUND_TRIES = 2
DEFAULT_TIMEOUT_SECONDS = 30.0
# The options given in seconds: each a finite number >= 0.
SECONDS_OPTIONS = ("retry_after", "finalizing_seconds", "timeout_seconds")


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
    lines.append(
        "finalizing_seconds=SECONDS  how much later slow_finalizing ends a batch "
        f"(default {DEFAULT_FINALIZING_SECONDS:g})"
    )
    lines.append(
        "not_found_tries=INT  how many uses batch_404 and file_not_found answer 404 "
        f"(default {DEFAULT_NOT_FOUND_TRIES})"
    )
    lines.append(
        "timeout_seconds=SECONDS  how long http_timeout holds an answer back "
        f"(default {DEFAULT_TIMEOUT_SECONDS:g})"
    )
    lines.append("seed=INT  seeds every decision (default 0)")
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Faults:
    """Fault rates by kind name (absent: 0), the options, and the seed."""

    rates: Mapping[str, float] = field(default_factory=dict)
    retry_after: float = DEFAULT_RETRY_AFTER
    seed: int = 0
    finalizing_seconds: float = DEFAULT_FINALIZING_SECONDS
    not_found_tries: int = DEFAULT_NOT_FOUND_TRIES
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS

    def __hash__(self) -> int:
        options = (self.finalizing_seconds, self.not_found_tries, self.timeout_seconds)
        return hash((tuple(sorted(self.rates.items())), self.retry_after, self.seed, options))

    def __post_init__(self) -> None:
        for name, rate in self.rates.items():
            if name not in FAULT_KINDS:
                raise InputError(f"unknown fault kind {name!r}; known names: {known_names()}")
            if not 0.0 <= rate <= 1.0:
                raise InputError(f"fault rate {name}={rate} is outside 0..1")
        for name in SECONDS_OPTIONS:
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise InputError(f"{name}={value} must be a number >= 0")
        tries = self.not_found_tries
        if isinstance(tries, bool) or not isinstance(tries, int) or tries < 0:
            raise InputError(f"not_found_tries={tries} must be an integer >= 0")
        # A read-only copy: the dataclass is frozen, its mapping should be too.
        object.__setattr__(self, "rates", MappingProxyType(dict(self.rates)))

    @property
    def active(self) -> bool:
        """Whether any kind can fire (when not, the sandbox skips fault work entirely)."""
        return any(rate > 0 for rate in self.rates.values())

    def active_kinds(self, applies_to: str, provider: str) -> tuple[str, ...]:
        """The kinds rolled for ``applies_to`` at ``provider`` that can fire, in registry order.

        Empty for the common case, which lets callers skip digests and counting altogether.
        """
        rates = self.rates
        return tuple(k for k in kinds_for(applies_to, provider) if rates.get(k, 0.0) > 0.0)

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
    options: dict[str, float] = {}
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
        if name in ("seed", "not_found_tries"):
            try:
                whole = int(value)
            except ValueError:
                raise _bad(item, f"{name} must be an integer") from None
            if name == "not_found_tries" and whole < 0:
                raise _bad(item, "not_found_tries must be an integer >= 0")
            options[name] = whole
            continue
        try:
            number = float(value)
        except ValueError:
            raise _bad(item, f"{value!r} is not a number") from None
        if not math.isfinite(number):
            raise _bad(item, f"{value!r} is not a finite number")
        if name in SECONDS_OPTIONS:
            if number < 0:
                raise _bad(item, f"{name} must be >= 0 seconds")
            options[name] = number
        elif not 0.0 <= number <= 1.0:
            raise _bad(item, "a rate must be between 0 and 1")
        else:
            rates[name] = number
    return Faults(
        rates,
        retry_after=float(options.get("retry_after", DEFAULT_RETRY_AFTER)),
        seed=int(options.get("seed", 0)),
        finalizing_seconds=float(options.get("finalizing_seconds", DEFAULT_FINALIZING_SECONDS)),
        not_found_tries=int(options.get("not_found_tries", DEFAULT_NOT_FOUND_TRIES)),
        timeout_seconds=float(options.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS)),
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

    def next_many(self, digests: list[bytes]) -> list[int]:
        """:meth:`next` for each digest in turn, under one lock (a batch's lines at once)."""
        out = []
        with self._lock:
            counts = self._counts
            for digest in digests:
                n = counts.get(digest, 0)
                counts[digest] = n + 1
                out.append(n)
        return out
