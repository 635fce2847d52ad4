"""Batch, line, file and HTTP fault kinds: the spec grammar, the rolls, and the batch machinery
they bend, driven without a network (the SDK-level wire tests are in tests/integration)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from halfrate.errors import InputError
from halfrate.sandbox import Faults, parse_faults
from halfrate.sandbox.common.batching import execution_order
from halfrate.sandbox.faults import FAULT_KINDS, describe, kinds_for
from halfrate.sandbox.faults.dice import (
    NO_PLAN,
    BatchPlan,
    FaultDice,
    content_digest,
    invalid_lines,
)
from halfrate.sandbox.faults.gate import route_of
from halfrate.sandbox.openai.execute import missing_prefix, run_batch, success_prefix
from halfrate.sandbox.openai.validation import validate
from halfrate.sandbox.openai.wire import ApiError
from halfrate.sandbox.state import SandboxState

CHAT = "/v1/chat/completions"
T0 = 1_800_000_000.0
LINE_KINDS = (
    "line_429",
    "line_500",
    "line_invalid",
    "duplicate_lines",
    "missing_lines",
    "line_schema_break",
)
BATCH_KINDS = ("batch_invalid", "expire_partway", "slow_finalizing", "batch_404")
HTTP_KINDS = ("http_429", "http_500", "http_timeout")
NEW_OPTIONS = ("finalizing_seconds", "not_found_tries", "timeout_seconds")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def jsonl(n: int) -> bytes:
    lines = [
        {
            "custom_id": f"r{i}",
            "method": "POST",
            "url": CHAT,
            "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q {i}"}]},
        }
        for i in range(n)
    ]
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


def bodies(n: int) -> list[dict[str, Any]]:
    return [{"q": i} for i in range(n)]


# -- the spec grammar -------------------------------------------------------------------------


def test_new_kinds_and_options_parse_with_their_defaults() -> None:
    spec = ",".join(f"{kind}=0.25" for kind in (*LINE_KINDS, *BATCH_KINDS, *HTTP_KINDS))
    faults = parse_faults(
        spec + ",file_not_found=1,finalizing_seconds=0.5,not_found_tries=3,timeout_seconds=4"
    )
    assert faults.rate("missing_lines") == 0.25
    assert faults.rate("file_not_found") == 1.0
    options = (faults.finalizing_seconds, faults.not_found_tries, faults.timeout_seconds)
    assert options == (0.5, 3, 4.0)
    defaults = parse_faults("line_500=1")
    assert (defaults.finalizing_seconds, defaults.not_found_tries) == (2.0, 2)
    assert (defaults.timeout_seconds, defaults.retry_after, defaults.seed) == (30.0, 1.0, 0)
    assert faults == Faults(
        dict(faults.rates),
        seed=0,
        finalizing_seconds=0.5,
        not_found_tries=3,
        timeout_seconds=4.0,
    )
    assert hash(faults) != hash(parse_faults(spec + ",not_found_tries=4"))
    assert not parse_faults("not_found_tries=5,timeout_seconds=1").active  # options alone


@pytest.mark.parametrize(
    ("spec", "item", "reason"),
    [
        ("line_429=2", "line_429=2", "between 0 and 1"),
        ("batch_404=often", "batch_404=often", "'often' is not a number"),
        ("not_found_tries=-1", "not_found_tries=-1", "not_found_tries must be an integer >= 0"),
        ("not_found_tries=1.5", "not_found_tries=1.5", "not_found_tries must be an integer"),
        ("finalizing_seconds=-2", "finalizing_seconds=-2", "finalizing_seconds must be >= 0"),
        ("timeout_seconds=inf", "timeout_seconds=inf", "not a finite number"),
        ("timeout_seconds=-0.5", "timeout_seconds=-0.5", "timeout_seconds must be >= 0"),
        ("http_500=0.1,timeout_seconds=1,timeout_seconds=2", "timeout_seconds=2", "given twice"),
    ],
)
def test_bad_items_name_the_item_and_every_known_name(spec: str, item: str, reason: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_faults(spec)
    message = str(caught.value)
    assert f"bad fault spec item {item!r}" in message
    assert reason in message
    for name in [*FAULT_KINDS, *NEW_OPTIONS, "retry_after", "seed"]:
        assert name in message


def test_constructed_faults_check_the_new_options() -> None:
    with pytest.raises(InputError, match="not_found_tries=-1 must be an integer >= 0"):
        Faults(not_found_tries=-1)
    with pytest.raises(InputError, match="finalizing_seconds=nan"):
        Faults(finalizing_seconds=float("nan"))
    with pytest.raises(InputError, match="timeout_seconds=-1"):
        Faults(timeout_seconds=-1.0)


def test_help_lists_every_kind_and_option() -> None:
    text = describe()
    for name in [*FAULT_KINDS, *NEW_OPTIONS, "retry_after", "seed"]:
        assert f"\n{name}=" in "\n" + text


def test_the_registry_says_what_each_kind_is_rolled_for() -> None:
    assert kinds_for("line", "openai") == LINE_KINDS
    assert kinds_for("line", "anthropic") == LINE_KINDS
    assert kinds_for("batch", "openai") == BATCH_KINDS
    assert kinds_for("batch", "anthropic") == BATCH_KINDS[1:]  # batch_invalid is OpenAI's
    assert kinds_for("http", "anthropic") == HTTP_KINDS
    assert kinds_for("file", "openai") == ("file_not_found",)
    assert kinds_for("file", "anthropic") == ()
    faults = parse_faults("line_500=0.5,line_429=0,batch_invalid=1")
    assert faults.active_kinds("line", "openai") == ("line_500",)
    assert faults.active_kinds("batch", "anthropic") == ()


# -- the rolls ---------------------------------------------------------------------------------


def test_line_rolls_depend_on_seed_body_and_how_often_it_ran() -> None:
    spec = "line_500=0.3,missing_lines=0.2,seed=5"
    first, again = FaultDice(parse_faults(spec)), FaultDice(parse_faults(spec))
    hits = first.lines("openai", bodies(300))
    assert hits == again.lines("openai", bodies(300))  # same seed, same bodies: same lines
    assert hits is not None
    assert set(hits.values()) == {"line_500", "missing_lines"}
    assert 100 < len(hits) < 160  # about 1 - 0.7 * 0.8 = 44 %
    reseeded = FaultDice(parse_faults("line_500=0.3,missing_lines=0.2,seed=6"))
    assert reseeded.lines("openai", bodies(300)) != hits
    # The same bodies run again (a retry in a later batch) are new rolls, which can succeed.
    retried = first.lines("openai", bodies(300))
    assert retried is not None
    assert retried != hits
    assert any(i not in retried for i in hits)
    # Two lines with one body in one batch are two rolls too.
    same = FaultDice(parse_faults("line_500=0.5,seed=1")).lines("openai", [{"q": 1}] * 40)
    assert same is not None
    assert 0 < len(same) < 40


def test_line_rolls_cost_nothing_when_no_line_fault_is_active() -> None:
    dice = FaultDice(parse_faults("sync_429=1,batch_404=1,http_500=1"))
    assert dice.lines("openai", bodies(10)) is None
    assert FaultDice(parse_faults("batch_invalid=1")).plan("anthropic", _fail) is NO_PLAN
    assert FaultDice(parse_faults("")).plan("openai", _fail) is NO_PLAN
    assert FaultDice(parse_faults("http_429=1")).file_hidden_tries(b"data") == 0


def _fail() -> bytes:
    raise AssertionError("the content was digested although no batch fault is active")


def test_one_fault_per_line_in_order_of_precedence() -> None:
    every = ",".join(f"{kind}=1" for kind in LINE_KINDS)
    hits = FaultDice(parse_faults(every)).lines("anthropic", bodies(5))
    assert hits == dict.fromkeys(range(5), "missing_lines")
    hits = FaultDice(parse_faults("line_429=1,duplicate_lines=1")).lines("openai", bodies(2))
    assert hits == {0: "line_429", 1: "line_429"}


def test_batch_plans() -> None:
    faults = parse_faults(
        "batch_invalid=1,expire_partway=1,slow_finalizing=1,batch_404=1,"
        "finalizing_seconds=7,not_found_tries=4"
    )
    dice = FaultDice(faults)
    plan = dice.plan("openai", lambda: content_digest(b"x"))
    assert (plan.invalid, plan.expire_partway, plan.finalizing_extra, plan.hidden_reads) == (
        True,
        True,
        7.0,
        4,
    )
    assert plan.stop_fault == "expire_partway"
    assert not dice.plan("anthropic", lambda: content_digest(b"x")).invalid
    half = FaultDice(parse_faults("batch_404=0.5,seed=2"))
    plans = [half.plan("openai", lambda: content_digest(b"same")).hidden_reads for _ in range(40)]
    assert set(plans) == {0, 2}  # resubmitting the same content rolls again


def test_invalid_lines_names_one_to_three_request_lines() -> None:
    for pick in range(50):
        named = invalid_lines(BatchPlan(invalid=True, pick=pick), [2, 4, 6, 8, 10])
        assert 1 <= len(named) <= 3
        assert named == sorted(set(named))
        assert set(named) <= {2, 4, 6, 8, 10}
    assert invalid_lines(BatchPlan(invalid=True, pick=3), [7]) == [7]


def test_http_rolls_are_per_route_not_per_id() -> None:
    spec = "http_429=0.5,http_500=0.2,seed=4"
    first, again = FaultDice(parse_faults(spec)), FaultDice(parse_faults(spec))
    route = "GET /v1/batches/{id}"
    rolls = [first.http_fault("openai", route) for _ in range(60)]
    assert rolls == [again.http_fault("openai", route) for _ in range(60)]
    assert {None, "http_429", "http_500"} == set(rolls)
    assert FaultDice(parse_faults("sync_500=1")).http_fault("openai", route) is None


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/v1/files", ("openai", "POST /v1/files")),
        ("GET", "/v1/files", ("openai", "GET /v1/files")),
        ("GET", "/v1/files/file-abc", ("openai", "GET /v1/files/{id}")),
        ("GET", "/v1/files/file-abc/content", ("openai", "GET /v1/files/{id}/content")),
        ("DELETE", "/v1/files/file-abc", ("openai", "DELETE /v1/files/{id}")),
        ("POST", "/v1/batches", ("openai", "POST /v1/batches")),
        ("GET", "/v1/batches/batch_1", ("openai", "GET /v1/batches/{id}")),
        ("POST", "/v1/batches/batch_1/cancel", ("openai", "POST /v1/batches/{id}/cancel")),
        ("POST", "/v1/messages/batches", ("anthropic", "POST /v1/messages/batches")),
        ("GET", "/v1/messages/batches/m1", ("anthropic", "GET /v1/messages/batches/{id}")),
        (
            "GET",
            "/v1/messages/batches/m1/results",
            ("anthropic", "GET /v1/messages/batches/{id}/results"),
        ),
        ("POST", "/v1/chat/completions", None),
        ("POST", "/v1/messages", None),
        ("POST", "/v1/messages/count_tokens", None),
        ("GET", "/_sandbox/ledger", None),
        ("GET", "/", None),
        ("GET", "/v1/batches/batch_1/nonsense", None),
        ("GET", "/v1/files/file-abc/content/more", None),
        ("GET", "/v1/files/", None),
    ],
)
def test_which_requests_the_http_faults_meet(
    method: str, path: str, expected: tuple[str, str] | None
) -> None:
    assert route_of(method, path) == expected


# -- the batch machinery ----------------------------------------------------------------------


def test_run_batch_applies_line_faults_and_counts_each_line_once() -> None:
    tasks = validate(jsonl(8), CHAT).tasks
    order = execution_order("batch_f", len(tasks))
    hits = {
        order[0]: "duplicate_lines",
        order[1]: "missing_lines",
        order[2]: "line_429",
        order[3]: "line_invalid",
        order[6]: "duplicate_lines",  # stopped, and duplicated all the same
    }
    run = run_batch("batch_f", CHAT, tasks, created=5, done=6, hits=hits, stop_fault="x")
    out = [orjson.loads(x) for x in run.output.splitlines()]
    err = [orjson.loads(x) for x in run.errors.splitlines()]
    ids = [tasks[i].custom_id for i in order]
    assert [x["custom_id"] for x in out] == [ids[0], ids[4], ids[5], ids[0]]
    assert out[0] == out[-1]  # the duplicate is the same line, written again last
    assert [x["custom_id"] for x in err] == [ids[2], ids[3], ids[6], ids[7], ids[6]]
    assert [x["response"]["status_code"] for x in err[:2]] == [429, 400]
    assert err[0]["response"]["body"]["error"]["code"] == "rate_limit_exceeded"
    assert err[1]["response"]["body"]["error"]["type"] == "invalid_request_error"
    assert ids[1] not in {x["custom_id"] for x in out + err}
    assert (run.completed, run.failed, len(run.rows), run.ran) == (3, 4, 8, 6)
    assert [row[1] for row in run.rows] == [
        200,
        "missing",
        429,
        400,
        200,
        200,
        "batch_cancelled",
        "batch_cancelled",
    ]
    assert run.row_faults == {
        0: "duplicate_lines",
        1: "missing_lines",
        2: "line_429",
        3: "line_invalid",
        6: "duplicate_lines",
        7: "x",
    }
    plain = run_batch("batch_f", CHAT, tasks, created=5)
    assert plain.row_faults is None
    assert plain == run_batch("batch_f", CHAT, tasks, created=5, hits={})


def test_moving_counts_leave_out_failing_and_missing_lines() -> None:
    tasks = validate(jsonl(4), CHAT).tasks
    order = [0, 1, 2, 3]
    hits = {1: "line_500", 2: "missing_lines", 3: "duplicate_lines"}
    assert success_prefix(CHAT, tasks, order, hits) == [0, 1, 1, 1, 2]
    assert missing_prefix(order, hits) == [0, 0, 0, 1, 1]
    assert missing_prefix(order, {1: "line_500"}) is None
    assert missing_prefix(order, None) is None


def new_batch(state: SandboxState, n: int) -> str:
    file = state.upload_file(jsonl(n), "in.jsonl", "batch")
    batch = state.create_batch(
        input_file_id=file.id, endpoint=CHAT, metadata=None, output_expires_after=None
    )
    return str(batch["id"])


def test_counts_while_running_match_the_final_ones_under_line_faults() -> None:
    clock = Clock()
    spec = "missing_lines=0.2,line_500=0.2,duplicate_lines=0.2,seed=3"
    state = SandboxState(latency=30, clock=clock, faults=spec)
    batch_id = new_batch(state, 50)
    seen = []
    for step in range(10, 21):
        clock.now = T0 + step
        counts = state.get_batch(batch_id)["request_counts"]
        assert counts["total"] == 50
        seen.append((counts["completed"], counts["failed"]))
    clock.now = T0 + 30
    final = state.get_batch(batch_id)
    assert final["status"] == "completed"
    assert seen[-1] == (final["request_counts"]["completed"], final["request_counts"]["failed"])
    assert seen == sorted(seen)
    lost = [e for e in state.ledger.entries() if e["status"] == "missing"]
    assert lost
    assert sum(seen[-1]) + len(lost) == 50  # a missing line is counted neither way


def test_expire_partway_stops_half_way_through_in_progress() -> None:
    clock = Clock()
    state = SandboxState(latency=30, clock=clock, faults="expire_partway=1")
    batch_id = new_batch(state, 11)
    clock.now = T0 + 14.9
    assert state.get_batch(batch_id)["status"] == "in_progress"
    clock.now = T0 + 15
    batch = state.get_batch(batch_id)
    assert (batch["status"], batch["expired_at"], batch["in_progress_at"]) == (
        "expired",
        T0 + 15,
        T0 + 10,
    )
    assert batch["request_counts"] == {"total": 11, "completed": 5, "failed": 6}
    entries = state.ledger.entries()
    assert sum(e["charged"] for e in entries) == 5
    stopped = [e for e in entries if not e["charged"]]
    assert {(e["status"], e["fault"], e["at"]) for e in stopped} == {
        ("batch_expired", "expire_partway", T0 + 15)
    }


def test_a_cancel_before_half_way_wins_over_expire_partway() -> None:
    clock = Clock()
    state = SandboxState(latency=30, clock=clock, cancel_latency=1, faults="expire_partway=1")
    batch_id = new_batch(state, 10)
    clock.now = T0 + 12
    state.cancel_batch(batch_id)
    clock.now = T0 + 20
    assert state.get_batch(batch_id)["status"] == "cancelled"
    assert {e["fault"] for e in state.ledger.entries()} == {None}


def test_slow_finalizing_lengthens_finalizing_only() -> None:
    clock = Clock()
    faults = "slow_finalizing=1,finalizing_seconds=5"
    state = SandboxState(latency=30, clock=clock, faults=faults)
    batch_id = new_batch(state, 3)
    clock.now = T0 + 20
    assert state.get_batch(batch_id)["status"] == "finalizing"
    clock.now = T0 + 34.9
    assert state.get_batch(batch_id)["status"] == "finalizing"
    clock.now = T0 + 35
    done = state.get_batch(batch_id)
    assert (done["status"], done["finalizing_at"], done["completed_at"]) == (
        "completed",
        T0 + 20,
        T0 + 35,
    )


def test_batch_invalid_fails_a_good_file_naming_its_lines() -> None:
    state = SandboxState(faults="batch_invalid=1")
    batch_id = new_batch(state, 6)
    batch = state.get_batch(batch_id)
    assert batch["status"] == "failed"
    errors = batch["errors"]["data"]
    assert 1 <= len(errors) <= 3
    assert all(e["code"] == "invalid_request" and 1 <= e["line"] <= 6 for e in errors)
    assert batch["request_counts"] == {"total": 0, "completed": 0, "failed": 0}
    assert (batch["output_file_id"], batch["error_file_id"]) == (None, None)
    assert state.ledger.entries() == []


def test_a_truly_invalid_file_reports_its_own_errors_first() -> None:
    state = SandboxState(faults="batch_invalid=1")
    file = state.upload_file(b"not json\n", "in.jsonl", "batch")
    batch = state.create_batch(
        input_file_id=file.id, endpoint=CHAT, metadata=None, output_expires_after=None
    )
    failed = state.get_batch(batch["id"])
    assert [e["code"] for e in failed["errors"]["data"]] == ["invalid_json_line"]


def test_batch_404_hides_only_client_retrieves() -> None:
    state = SandboxState(faults="batch_404=1,not_found_tries=3")
    batch_id = new_batch(state, 2)
    assert state.get_batch(batch_id)["id"] == batch_id  # the sandbox's own reads see it
    for _ in range(3):
        with pytest.raises(ApiError) as caught:
            state.retrieve_batch(batch_id)
        assert caught.value.status == 404
    assert state.retrieve_batch(batch_id)["status"] == "completed"


def test_file_not_found_hides_a_new_upload_for_a_few_uses() -> None:
    state = SandboxState(faults="file_not_found=1,not_found_tries=2")
    file = state.upload_file(jsonl(1), "in.jsonl", "batch")
    for param in ("id", "input_file_id"):
        with pytest.raises(ApiError) as caught:
            state.use_file(file.id, param)
        assert (caught.value.status, caught.value.param) == (404, param)
    assert state.use_file(file.id).id == file.id
    assert state.get_file(file.id).id == file.id
    published = state.add_file(b"x\n", "out.jsonl", "batch_output")  # not an upload
    assert state.use_file(published.id).id == published.id
