"""Fault specs (parsing, errors that name the item) and deterministic fault decisions."""

from __future__ import annotations

import threading

import pytest

from halfrate.errors import InputError
from halfrate.sandbox import Faults, parse_faults
from halfrate.sandbox.anthropic.fault_answers import ANTHROPIC_SYNC
from halfrate.sandbox.common.jsondata import body_digest
from halfrate.sandbox.faults.spec import (
    FAULT_KINDS,
    NO_FAULTS,
    CallCounter,
    as_faults,
    describe,
    draw,
)
from halfrate.sandbox.openai.fault_answers import OPENAI_FLEX, OPENAI_SYNC
from halfrate.sandbox.state import SandboxState


def test_parse_a_full_spec() -> None:
    faults = parse_faults(" sync_429=0.2, sync_500=0.05 ,flex_unavailable=1,retry_after=0.5,seed=7")
    assert dict(faults.rates) == {"sync_429": 0.2, "sync_500": 0.05, "flex_unavailable": 1.0}
    assert (faults.retry_after, faults.seed) == (0.5, 7)
    assert faults.active
    assert faults.rate("sync_529") == 0.0
    assert faults == Faults({"sync_429": 0.2, "sync_500": 0.05, "flex_unavailable": 1.0}, 0.5, 7)
    assert hash(faults) == hash(parse_faults(faults_spec_of(faults)))


def faults_spec_of(faults: Faults) -> str:
    items = [f"{name}={rate}" for name, rate in faults.rates.items()]
    return ",".join([*items, f"retry_after={faults.retry_after}", f"seed={faults.seed}"])


def test_defaults_and_empty_spec() -> None:
    assert parse_faults("") == NO_FAULTS
    assert parse_faults("   ") == NO_FAULTS
    assert not NO_FAULTS.active
    assert (NO_FAULTS.retry_after, NO_FAULTS.seed) == (1.0, 0)
    assert not parse_faults("sync_429=0").active
    assert as_faults(None) == NO_FAULTS
    assert as_faults("sync_500=1").rate("sync_500") == 1.0


@pytest.mark.parametrize(
    ("spec", "item", "reason"),
    [
        ("sync_429=0.1,bogus=0.2", "bogus=0.2", "unknown name 'bogus'"),
        ("sync_429", "sync_429", "expected name=value"),
        ("sync_429=1.5", "sync_429=1.5", "between 0 and 1"),
        ("sync_500=-0.1", "sync_500=-0.1", "between 0 and 1"),
        ("sync_529=lots", "sync_529=lots", "'lots' is not a number"),
        ("sync_429=nan", "sync_429=nan", "not a finite number"),
        ("sync_429=0.1,,sync_500=0.1", "", "item 2 is empty"),
        ("sync_429=0.1,", "", "item 2 is empty"),
        ("sync_429=0.1,sync_429=0.2", "sync_429=0.2", "'sync_429' is given twice"),
        ("seed=1,seed=2", "seed=2", "'seed' is given twice"),
        ("seed=1.5", "seed=1.5", "seed must be an integer"),
        ("retry_after=-1", "retry_after=-1", "retry_after must be >= 0"),
        ("retry_after=soon", "retry_after=soon", "'soon' is not a number"),
    ],
)
def test_bad_specs_name_the_item_and_the_known_names(spec: str, item: str, reason: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_faults(spec)
    message = str(caught.value)
    assert f"bad fault spec item {item!r}" in message
    assert reason in message
    for name in [*FAULT_KINDS, "retry_after", "seed"]:
        assert name in message


def test_constructed_faults_are_checked_too() -> None:
    with pytest.raises(InputError, match="unknown fault kind 'nope'"):
        Faults({"nope": 0.5})
    with pytest.raises(InputError, match=r"outside 0\.\.1"):
        Faults({"sync_429": 2.0})
    with pytest.raises(InputError, match="retry_after"):
        Faults(retry_after=-1.0)


def test_a_decision_depends_only_on_seed_kind_body_and_n() -> None:
    faults = parse_faults("sync_429=0.5,sync_500=0.5,seed=3")
    body = body_digest({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]})
    other = body_digest({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "y"}]})
    first = [faults.fires("sync_429", body, n) for n in range(200)]
    assert first == [faults.fires("sync_429", body, n) for n in range(200)]
    assert first == [
        parse_faults("seed=3,sync_429=0.5").fires("sync_429", body, n) for n in range(200)
    ]
    assert first != [faults.fires("sync_500", body, n) for n in range(200)]  # by kind
    assert first != [faults.fires("sync_429", other, n) for n in range(200)]  # by body
    reseeded = parse_faults("sync_429=0.5,seed=4")
    assert first != [reseeded.fires("sync_429", body, n) for n in range(200)]  # by seed
    assert 60 < sum(first) < 140  # about half
    assert True in first
    assert False in first  # a retry (the next n) can succeed
    assert draw(3, "sync_429", body, 5) == draw(3, "sync_429", body, 5)
    assert 0.0 <= draw(3, "sync_429", body, 5) < 1.0


def test_rates_zero_and_one_are_exact() -> None:
    digest = body_digest({"a": 1})
    always = parse_faults("sync_500=1")
    never = parse_faults("sync_500=0")
    assert all(always.fires("sync_500", digest, n) for n in range(50))
    assert not any(never.fires("sync_500", digest, n) for n in range(50))
    assert always.first(("sync_429", "sync_500"), digest, 0) == "sync_500"
    assert never.first(("sync_429", "sync_500"), digest, 0) is None


def test_counting_is_per_body_and_thread_safe() -> None:
    counter = CallCounter()
    a, b = body_digest({"a": 1}), body_digest({"b": 1})
    threads = [
        threading.Thread(target=lambda: [counter.next(a) for _ in range(500)]) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter.next(a) == 2000
    assert counter.next(b) == 0


def test_concurrency_does_not_change_which_calls_fault() -> None:
    """Calls of different bodies interleaved in any order: each body's n-th call decides alike."""
    bodies = [{"q": i} for i in range(5)]

    def run(order: list[int]) -> dict[int, list[str | None]]:
        state = SandboxState(faults="sync_429=0.4,seed=9")
        seen: dict[int, list[str | None]] = {i: [] for i in range(len(bodies))}
        for i in order:
            seen[i].append(state.fault_for(bodies[i], ("sync_429",)))
        return seen

    in_turn = [i for i in range(5) for _ in range(20)]
    interleaved = [i for _ in range(20) for i in range(5)]
    assert run(in_turn) == run(interleaved)
    assert SandboxState().fault_for(bodies[0], ("sync_429",)) is None


def test_the_registry_says_which_calls_each_kind_meets() -> None:
    assert OPENAI_SYNC == ("sync_429", "sync_500")
    assert OPENAI_FLEX == ("flex_unavailable", "sync_429", "sync_500")
    assert ANTHROPIC_SYNC == ("sync_429", "sync_500", "sync_529")
    help_text = describe()
    assert all(f"{name}=" in help_text for name in [*FAULT_KINDS, "retry_after", "seed"])


def test_the_fault_help_is_public_under_both_names() -> None:
    from halfrate.sandbox import describe_faults
    from halfrate.sandbox.faults import describe as from_the_package

    assert describe_faults is from_the_package is describe
