"""What a file of requests will cost before any of it is sent: realtime vs batch vs flex.

Input tokens are counted with tiktoken for OpenAI models, following OpenAI's rule for chat
messages (each message adds 3 tokens and its role, a reply is primed with 3 more); Claude
models have no public tokenizer, so their count is a labelled approximation (four characters a
token). Output tokens are what each request allows (``max_tokens`` and its kin: a ceiling), an
assumption the caller states, or, with neither, left out: then the price is a floor.

Every figure says which it is: ``counted``, ``approximate``, ``ceiling``, ``assumed`` or
``floor``. Nothing is stored and nothing is sent.

The providers' prompt caches are estimated apart (docs/prompt-caching.md): requests sharing a
prefix of at least 1,024 tokens form groups as they would at submit; the first of each group is
expected to write the prefix and every later one to read it. Each lane is then priced with and
without that effect (a batch's Anthropic writes at the one-hour rate).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

from halfrate.catalog import supports_flex
from halfrate.errors import InputError
from halfrate.models import Lane, Provider, Usage
from halfrate.money import dollars
from halfrate.prefixes import PrefixFinder, smallest_group
from halfrate.pricing.prices import PriceBook
from halfrate.records import ParsedLine
from halfrate.tokens import count_text

TOKENS_PER_MESSAGE = 3  # OpenAI's documented overhead per chat message
TOKENS_REPLY_PRIMING = 3
OUTPUT_LIMIT_FIELDS = ("max_completion_tokens", "max_tokens", "max_output_tokens")


@dataclass
class ModelEstimate:
    """The requests of one provider and model, added up."""

    provider: str
    model: str
    requests: int = 0
    input_tokens: int = 0
    input_exact: bool = True  # every count came from the model's own tokenizer
    output_tokens: int = 0
    output_limited: int = 0  # requests whose output tokens are their own limit (a ceiling)
    output_assumed: int = 0  # requests priced with the caller's assumption
    output_unknown: int = 0  # requests with neither: their output is left out (a floor)
    prices: dict[Lane, tuple[int, bool] | None] = field(default_factory=dict)
    # The prefix groups of its requests: (tokens of the prefix, requests sharing it).
    prefix_groups: list[tuple[int, int]] = field(default_factory=list)
    cached_prices: dict[Lane, int | None] = field(default_factory=dict)  # with that effect

    @property
    def input_basis(self) -> str:
        return "counted" if self.input_exact else "approximate"

    @property
    def output_basis(self) -> str:
        if self.output_unknown:
            return "floor"
        if self.output_assumed:
            return "assumed" if not self.output_limited else "ceiling+assumed"
        return "ceiling" if self.output_limited else "counted"

    def usd(self, lane: Lane) -> Decimal | None:
        priced = self.prices.get(lane)
        return None if priced is None else dollars(priced[0])

    def derived(self, lane: Lane) -> bool:
        priced = self.prices.get(lane)
        return priced is not None and priced[1]

    def cache_tokens(self, lane: Lane) -> tuple[int, int]:
        """Tokens expected to be written to and read from the prompt cache in ``lane``: only
        groups large enough for halfrate to mark count (docs/prompt-caching.md)."""
        ttl = "1h" if lane is Lane.BATCH else "5m"
        enough = smallest_group(Provider(self.provider), ttl)
        kept = [(tokens, members) for tokens, members in self.prefix_groups if members >= enough]
        return sum(t for t, _ in kept), sum(t * (n - 1) for t, n in kept)

    @property
    def cache_write_tokens(self) -> int:
        """In the batch lane, the one halfrate is for."""
        return self.cache_tokens(Lane.BATCH)[0]

    @property
    def cache_read_tokens(self) -> int:
        return self.cache_tokens(Lane.BATCH)[1]

    def usd_cached(self, lane: Lane) -> Decimal | None:
        """The price in ``lane`` with the expected prompt-cache writes and reads."""
        nano = self.cached_prices.get(lane)
        return None if nano is None else dollars(nano)


@dataclass(frozen=True)
class Estimate:
    models: list[ModelEstimate]
    lanes: tuple[Lane, ...] = (Lane.REALTIME, Lane.BATCH, Lane.FLEX)

    @property
    def requests(self) -> int:
        return sum(m.requests for m in self.models)

    def total(self, lane: Lane) -> Decimal:
        """What the priced models cost in ``lane`` (flex: where it is offered, else batch)."""
        return self._total(lane, ModelEstimate.usd)

    def total_cached(self, lane: Lane) -> Decimal:
        """:meth:`total` with the expected prompt-cache effect."""
        return self._total(lane, ModelEstimate.usd_cached)

    def _total(
        self, lane: Lane, usd_of: Callable[[ModelEstimate, Lane], Decimal | None]
    ) -> Decimal:
        total = Decimal(0)
        for m in self.models:
            usd = usd_of(m, lane)
            if usd is None and lane is Lane.FLEX:
                usd = usd_of(m, Lane.BATCH)
            total += usd or Decimal(0)
        return total

    @property
    def cache_write_tokens(self) -> int:
        return sum(m.cache_write_tokens for m in self.models)

    @property
    def cache_read_tokens(self) -> int:
        return sum(m.cache_read_tokens for m in self.models)

    @property
    def unpriced(self) -> list[ModelEstimate]:
        return [m for m in self.models if m.prices.get(Lane.REALTIME) is None]

    @property
    def is_floor(self) -> bool:
        return any(m.output_unknown for m in self.models) or bool(self.unpriced)


def prompt_tokens(model: str, endpoint: str, body: dict[str, Any]) -> tuple[int, bool]:
    """Input tokens of one request body, and whether the count is exact for the model."""
    exact = True

    def count(text: str) -> int:
        nonlocal exact
        found = count_text(model, text)
        exact = exact and found.exact
        return found.tokens

    def content(value: Any) -> int:
        if value is None:
            return 0
        if isinstance(value, str):
            return count(value)
        if isinstance(value, list):
            return sum(
                content(part.get("text", part) if isinstance(part, dict) else part)
                for part in value
            )
        return count(orjson.dumps(value).decode())

    total = 0
    if endpoint.endswith("/embeddings"):
        return content(body.get("input")), exact
    if isinstance(body.get("system"), str | list):  # Anthropic's system prompt
        total += content(body["system"])
    if isinstance(body.get("instructions"), str):  # Responses
        total += count(body["instructions"])
    messages = body.get("messages")
    if messages is None and "input" in body:
        messages = body["input"] if isinstance(body["input"], list) else None
        if messages is None:
            total += content(body["input"])
    if isinstance(messages, list):
        total += TOKENS_REPLY_PRIMING
        for message in messages:
            total += TOKENS_PER_MESSAGE
            if isinstance(message, dict):
                total += count(str(message.get("role", "")))
                total += content(message.get("content"))
            else:
                total += content(message)
    for key in ("tools", "functions", "response_format"):
        if body.get(key) is not None:
            total += content(body[key])
    return total, exact


def output_limit(body: dict[str, Any]) -> int | None:
    for name in OUTPUT_LIMIT_FIELDS:
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def line_cost(line: ParsedLine, prices: PriceBook) -> int:
    """What one routed line is expected to cost in its lane (nano-dollars): its prompt, and
    its output limit where it sets one (else its input alone: a floor); 0 when unpriced."""
    body = orjson.loads(line.body_json)
    tokens, _ = prompt_tokens(line.model, line.endpoint, body)
    output = 0 if line.endpoint.endswith("/embeddings") else output_limit(body) or 0
    lane = line.route.lane if line.route is not None else Lane.BATCH
    usage = Usage(input_tokens=tokens, output_tokens=output)
    cost = prices.cost(line.provider.value, line.model, usage, lane)
    return 0 if cost is None else cost.nano


def _with_cache(m: ModelEstimate, usage: Usage, lane: Lane) -> Usage:
    """``usage`` with the expected cache writes and reads: Anthropic's batch markers live an
    hour (its writes cost 2x), its realtime ones 5 minutes (1.25x); OpenAI bills writes as
    input, or at its write rate on the models that have one."""
    written, read = m.cache_tokens(lane)
    writes = min(written, m.input_tokens)
    one_hour = writes if m.provider == "anthropic" and lane is Lane.BATCH else 0
    return Usage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cached_tokens=min(read, m.input_tokens - writes),
        cache_write_tokens=writes,
        cache_write_1h_tokens=one_hour,
    )


MAX_ASSUMED_OUTPUT = 1_000_000  # tokens: no model answers more in one request


def check_assumed_output(output_tokens: int | None) -> None:
    if output_tokens is not None and not (
        isinstance(output_tokens, int)
        and not isinstance(output_tokens, bool)
        and 0 < output_tokens <= MAX_ASSUMED_OUTPUT
    ):
        raise InputError(f"--output-tokens must be a whole number from 1 to {MAX_ASSUMED_OUTPUT:,}")


def estimate(
    lines: Iterable[ParsedLine],
    prices: PriceBook,
    output_tokens: int | None = None,
    *,
    assume_within_limits: bool = False,
) -> Estimate:
    """Add up ``lines`` per provider and model, then price each total in every lane (prices
    are linear in tokens, so pricing the sums is pricing each request).

    ``output_tokens``: the answer length to assume for requests without a limit of their own;
    with ``assume_within_limits``, for every request (never more than its limit), so a caller
    who knows its answers are short gets "about", not the ceiling of every limit."""
    by_model: dict[tuple[str, str], ModelEstimate] = {}
    prefixes = PrefixFinder()
    groups: dict[str, tuple[ModelEstimate, int]] = {}  # prefix key -> its model, its tokens
    members: Counter[str] = Counter()
    for line in lines:
        key = (line.provider.value, line.model)
        m = by_model.get(key)
        if m is None:
            m = by_model[key] = ModelEstimate(*key)
        body = orjson.loads(line.body_json)
        prefix = prefixes.tag(line, body).prefix
        if prefix is not None:
            groups.setdefault(prefix.key, (m, prefix.tokens))
            members[prefix.key] += 1
        tokens, exact = prompt_tokens(line.model, line.endpoint, body)
        m.requests += 1
        m.input_tokens += tokens
        m.input_exact = m.input_exact and exact
        if line.endpoint.endswith("/embeddings"):
            continue  # embeddings have no output tokens
        limit = output_limit(body)
        if output_tokens is not None and (limit is None or assume_within_limits):
            m.output_tokens += output_tokens if limit is None else min(limit, output_tokens)
            m.output_assumed += 1
        elif limit is not None:
            m.output_tokens += limit
            m.output_limited += 1
        else:
            m.output_unknown += 1
    for _, founded in prefixes.founders():
        members[founded.key] += 1  # the group's first request, tagged once it formed
    for group, (owner, tokens) in groups.items():
        owner.prefix_groups.append((tokens, members[group]))
    for m in by_model.values():
        usage = Usage(input_tokens=m.input_tokens, output_tokens=m.output_tokens)
        for lane in (Lane.REALTIME, Lane.BATCH, Lane.FLEX):
            if lane is Lane.FLEX and not (m.provider == "openai" and supports_flex(m.model)):
                continue
            cost = prices.cost(m.provider, m.model, usage, lane)
            m.prices[lane] = None if cost is None else (cost.nano, cost.derived)
            cached = prices.cost(m.provider, m.model, _with_cache(m, usage, lane), lane)
            m.cached_prices[lane] = None if cached is None else cached.nano
    ordered = sorted(by_model.values(), key=lambda m: (-(m.usd(Lane.REALTIME) or 0), m.model))
    return Estimate(ordered)
