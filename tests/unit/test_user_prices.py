"""The user's own price table ([prices] in the config file): to the cent, over the bundled data,
and refused at start, by file, model and key, when it is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from halfrate.errors import ConfigError
from halfrate.models import Lane, Usage
from halfrate.pricing.prices import PriceBook
from halfrate.pricing.user_prices import read_user_prices

MILLION = 1_000_000
FINE_TUNE = "ft:gpt-4o-mini:acme:triage:abc123"
ONE_EACH = Usage(input_tokens=MILLION, output_tokens=MILLION)


def book(tmp_path: Path, text: str) -> PriceBook:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return PriceBook(read_user_prices(path), str(path))


def test_a_fine_tune_priced_by_the_user(tmp_path: Path) -> None:
    prices = book(tmp_path, f'[prices."{FINE_TUNE}"]\ninput = 0.30\noutput = 1.20\n')
    realtime = prices.cost("openai", FINE_TUNE, ONE_EACH, Lane.REALTIME)
    batch = prices.cost("openai", FINE_TUNE, ONE_EACH, Lane.BATCH)
    assert realtime is not None
    assert batch is not None
    assert realtime.nano == 1_500_000_000
    assert not realtime.derived
    assert batch.nano == 750_000_000  # half, as documented
    assert batch.derived
    cost, at_realtime, planned, source = prices.attempt_costs(
        "openai", FINE_TUNE, ONE_EACH, Lane.BATCH, Lane.BATCH
    )
    assert (cost, at_realtime, planned) == (750_000_000, 1_500_000_000, 750_000_000)
    assert source is not None
    assert source.startswith("user prices (")
    assert "derived" in source


def test_batch_flex_and_cache_prices_given(tmp_path: Path) -> None:
    prices = book(
        tmp_path,
        f'[prices."{FINE_TUNE}"]\ninput = 0.40\noutput = 1.60\ncached_input = 0.10\n'
        "batch_input = 0.30\nbatch_output = 1.00\nflex_input = 0.25\nflex_output = 0.90\n",
    )
    cached = Usage(input_tokens=2 * MILLION, cached_tokens=MILLION, output_tokens=MILLION)
    realtime = prices.cost("openai", FINE_TUNE, cached, Lane.REALTIME)
    batch = prices.cost("openai", FINE_TUNE, ONE_EACH, Lane.BATCH)
    flex = prices.cost("openai", FINE_TUNE, ONE_EACH, Lane.FLEX)
    assert realtime is not None
    assert batch is not None
    assert flex is not None
    assert realtime.nano == 2_100_000_000  # 0.40 fresh + 0.10 cached + 1.60 output
    assert (batch.nano, batch.derived) == (1_300_000_000, False)
    assert (flex.nano, flex.derived) == (1_150_000_000, False)


def test_a_user_price_wins_over_the_bundled_one_for_its_provider_only(tmp_path: Path) -> None:
    prices = book(
        tmp_path, '[prices."gpt-4o-mini"]\nprovider = "openai"\ninput = 0.10\noutput = 0.40\n'
    )
    negotiated = prices.cost("openai", "gpt-4o-mini", ONE_EACH, Lane.REALTIME)
    assert negotiated is not None
    assert negotiated.nano == 500_000_000  # bundled: 0.15 + 0.60
    assert prices.cost("openai", "gpt-4o", ONE_EACH, Lane.REALTIME) is not None
    assert PriceBook().cost("openai", FINE_TUNE, ONE_EACH, Lane.REALTIME) is None


def test_no_file_and_no_table_mean_no_user_prices(tmp_path: Path) -> None:
    assert read_user_prices(tmp_path / "missing.toml") == {}
    (tmp_path / "c.toml").write_text("[halfrate]\nmax_attempts = 4\n", encoding="utf-8")
    assert read_user_prices(tmp_path / "c.toml") == {}


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[prices."m"]\ninput = 1\noutput = 2\ncolour = 3\n', "unknown key 'colour'"),
        ('[prices."m"]\ninput = 1\n', "'output' (dollars per million tokens) is required"),
        ('[prices."m"]\ninput = -1\noutput = 2\n', "input = -1 is outside"),
        ('[prices."m"]\ninput = 1e9\noutput = 2\n', "is outside 0 to 100,000"),
        ('[prices."m"]\ninput = "cheap"\noutput = 2\n', "input must be a number"),
        ('[prices."m"]\ninput = true\noutput = 2\n', "input must be a number"),
        ('[prices."m"]\ninput = nan\noutput = 2\n', "is outside"),
        ('[prices."m"]\ninput = 1\noutput = 2\nbatch_input = 1\n', "batch_output together"),
        ('[prices."m"]\ninput = 1\noutput = 2\nprovider = "acme"\n', "provider must be"),
        ('prices = "all of them"\n', "[prices] must be a table"),
        ("[prices]\nm = 3\n", "must be a table (input = ..., output = ...)"),
        ("[prices\n", "cannot read config file"),
    ],
)
def test_bad_price_tables_are_refused_by_file_model_and_key(
    tmp_path: Path, text: str, needle: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        read_user_prices(path)
    assert needle in str(caught.value)
    assert str(path) in str(caught.value)
