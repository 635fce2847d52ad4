"""Prices people set themselves: fine-tunes, negotiated rates, models the bundled data lacks.

In the config file (``$HALFRATE_CONFIG`` or ``$HALFRATE_HOME/config.toml``), dollars per
million tokens::

    [prices."ft:gpt-4o-mini:acme:triage:abc123"]
    provider = "openai"        # optional: only for this provider's requests
    input = 0.30
    output = 1.20
    cached_input = 0.15        # optional (default: input)
    cache_write = 0.375        # optional (default: input); cache_write_1h (default: cache_write)
    batch_input = 0.15         # optional (default: half of input, marked derived)
    batch_output = 0.60        # optional (default: half of output, marked derived)
    flex_input = 0.15          # optional (default: the batch prices)
    flex_output = 0.60

A user price overrides the bundled data for its model. A bad entry is refused at start, naming
the file, the model and the key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from halfrate.config import read_config_file
from halfrate.errors import ConfigError

PER_MILLION_TO_NANO_PER_TOKEN = 1000.0  # $1 per million tokens = 1,000 nano-dollars a token
MAX_PRICE = 100_000.0  # dollars per million tokens: anything above is a typo
KEYS = (
    "provider",
    "input",
    "output",
    "cached_input",
    "cache_write",
    "cache_write_1h",
    "batch_input",
    "batch_output",
    "flex_input",
    "flex_output",
)


@dataclass(frozen=True)
class UserPrice:
    """Dollars per million tokens; None: not given (a default applies)."""

    model: str
    input: float
    output: float
    provider: str | None = None
    cached_input: float | None = None
    cache_write: float | None = None
    cache_write_1h: float | None = None
    batch_input: float | None = None
    batch_output: float | None = None
    flex_input: float | None = None
    flex_output: float | None = None

    def applies_to(self, provider: str) -> bool:
        return self.provider is None or self.provider == provider


def read_user_prices(path: Path) -> dict[str, UserPrice]:
    """The ``[prices]`` table of the config file at ``path`` (none when it has no such table)."""
    return user_prices_of(read_config_file(path), path)


def user_prices_of(data: Mapping[str, Any], path: Path) -> dict[str, UserPrice]:
    """The ``[prices]`` table of a parsed config file (``path`` names it in messages)."""
    table = data.get("prices", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [prices] must be a table of models")
    return {model: _entry(path, model, entry) for model, entry in table.items()}


def _entry(path: Path, model: str, entry: Any) -> UserPrice:
    where = f"{path}: [prices.{model!r}]"
    if not model.strip() or len(model) > 200:
        raise ConfigError(f"{where}: a model name must be 1 to 200 characters")
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where} must be a table (input = ..., output = ...)")
    unknown = sorted(set(entry) - set(KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; known: {', '.join(KEYS)}")
    for needed in ("input", "output"):
        if needed not in entry:
            raise ConfigError(f"{where}: {needed!r} (dollars per million tokens) is required")
    for pair in (("batch_input", "batch_output"), ("flex_input", "flex_output")):
        if (pair[0] in entry) != (pair[1] in entry):
            raise ConfigError(f"{where}: give {pair[0]} and {pair[1]} together, or neither")
    provider = entry.get("provider")
    if provider is not None and provider not in ("openai", "anthropic"):
        raise ConfigError(f"{where}: provider must be 'openai' or 'anthropic', not {provider!r}")
    values: dict[str, float] = {}
    for key in KEYS[1:]:
        if key in entry:
            values[key] = _price(where, key, entry[key])
    return UserPrice(model=model, provider=provider, **values)


def _price(where: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: {key} must be a number of dollars per million tokens")
    number = float(value)
    if not math.isfinite(number) or number < 0 or number > MAX_PRICE:
        raise ConfigError(f"{where}: {key} = {value} is outside 0 to {MAX_PRICE:,.0f}")
    return number


def user_rates(price: UserPrice, lane: str) -> tuple[tuple[float, ...], bool]:
    """Nano-dollars per token (fresh input, cached read, 5-minute write, 1-hour write, output)
    in ``lane``, and whether they were derived from the documented batch discount."""
    cached = price.cached_input if price.cached_input is not None else price.input
    write = price.cache_write if price.cache_write is not None else price.input
    write_1h = price.cache_write_1h if price.cache_write_1h is not None else write
    base = (price.input, cached, write, write_1h, price.output)
    derived = False
    given_in, given_out = price.batch_input, price.batch_output
    if lane == "flex" and (price.flex_input is not None or price.flex_output is not None):
        given_in, given_out = price.flex_input, price.flex_output
    if lane in ("batch", "flex"):
        if given_in is None or given_out is None:
            derived = True
            rates = tuple(r * 0.5 for r in base)  # the documented batch discount
        else:
            ratio = given_in / price.input if price.input else 0.5
            rates = (given_in, cached * ratio, write * ratio, write_1h * ratio, given_out)
    else:
        rates = base
    return tuple(r * PER_MILLION_TO_NANO_PER_TOKEN for r in rates), derived
