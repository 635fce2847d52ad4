"""Sink specs: the good forms are made canonical, every bad one gets one clear InputError; opening
what this process cannot serve raises SinkUnavailable; the callback sink."""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import pytest

from halfrate.errors import InputError, SinkUnavailable
from halfrate.models import Result
from halfrate.sinks import DeliveryReport, Outgoing, SinkSpec, parse_sink
from halfrate.sinks.callback import CallbackSink
from halfrate.sinks.opening import open_sink
from halfrate.sinks.spec import resolve_webhook_url

RESPONSE = {"choices": [{"message": {"role": "assistant", "content": "hello"}}]}


def outgoing(key: str, *, status: str = "succeeded", response_json: str | None = None) -> Outgoing:
    return Outgoing(
        key=key,
        job_id="job-1",
        idempotency_key=f"sink-1:{key}",
        status=status,
        status_code=200,
        response_json=orjson.dumps(RESPONSE).decode() if response_json is None else response_json,
        error_json=None,
    )


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("text", "kind", "name"),
    [
        ("jsonl:out.jsonl", "jsonl", "out.jsonl"),
        ("jsonl:results.txt", "jsonl", "results.txt"),
        ("csv:sub/../table.csv", "csv", "table.csv"),
        ("out.jsonl", "jsonl", "out.jsonl"),
        ("Report.CSV", "csv", "Report.CSV"),
        ("  padded.jsonl\n", "jsonl", "padded.jsonl"),
        ("JSONL:upper.jsonl", "jsonl", "upper.jsonl"),
    ],
)
def test_file_specs_are_made_absolute(in_tmp: Path, text: str, kind: str, name: str) -> None:
    spec = parse_sink(text)
    assert spec.kind == kind
    assert spec.target == str(in_tmp / name)
    assert spec.text == f"{kind}:{in_tmp / name}"
    assert spec.table is None


def test_a_path_object_is_a_bare_path(in_tmp: Path) -> None:
    assert parse_sink(Path("x.csv")).text == f"csv:{in_tmp / 'x.csv'}"


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("https://hooks.example.com/halfrate", "https://hooks.example.com/halfrate"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/"),
        ("HTTPS://Example.com/a#fragment-dropped", "https://Example.com/a"),
        ("webhook:http://[::1]:9000/x", "http://[::1]:9000/x"),
    ],
)
def test_webhook_specs(text: str, target: str) -> None:
    spec = parse_sink(text)
    assert (spec.kind, spec.target, spec.text) == ("webhook", target, f"webhook:{target}")


def test_a_url_with_a_query_is_given_through_a_variable_and_never_stored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(InputError, match="webhook:env:NAME") as refused:
        parse_sink("https://example.com/hook?token=s3cret&x=1")
    assert "s3cret" not in str(refused.value)
    spec = parse_sink("webhook:env:CRM_HOOK_URL")
    assert (spec.kind, spec.target, spec.text) == (
        "webhook",
        "env:CRM_HOOK_URL",
        "webhook:env:CRM_HOOK_URL",
    )
    with pytest.raises(SinkUnavailable, match="CRM_HOOK_URL is not set"):
        resolve_webhook_url(spec)
    monkeypatch.setenv("CRM_HOOK_URL", "https://example.com/hook?token=s3cret#x")
    assert resolve_webhook_url(spec) == "https://example.com/hook?token=s3cret"
    monkeypatch.setenv("CRM_HOOK_URL", "ftp://example.com/?token=s3cret")
    with pytest.raises(SinkUnavailable, match="must start with http") as bad:
        resolve_webhook_url(spec)
    assert "s3cret" not in str(bad.value)
    with pytest.raises(InputError, match="environment variable name"):
        parse_sink("webhook:env:not a name")


def test_sql_specs(in_tmp: Path) -> None:
    sqlite = parse_sink("sql:sqlite:///results.db#answers")
    assert sqlite.kind == "sql"
    assert sqlite.table == "answers"
    assert sqlite.target == f"sqlite:///{in_tmp / 'results.db'}"
    assert sqlite.text == f"sql:sqlite:///{in_tmp / 'results.db'}#answers"

    pg = parse_sink("sql:postgresql+psycopg://app@db.internal:5432/crm#public.llm_results")
    assert pg.target == "postgresql+psycopg://app@db.internal:5432/crm"
    assert pg.table == "public.llm_results"

    env = parse_sink("sql:env:CRM_DATABASE_URL#llm_results")
    assert (env.target, env.table, env.text) == (
        "env:CRM_DATABASE_URL",
        "llm_results",
        "sql:env:CRM_DATABASE_URL#llm_results",
    )


def test_callback_spec() -> None:
    assert parse_sink("callback:crm.update") == SinkSpec(
        "callback", "crm.update", "callback:crm.update"
    )


@pytest.mark.parametrize(
    "text",
    [
        "out.jsonl",
        "csv:a/b.csv",
        "https://example.com/x",
        "webhook:env:HOOK",
        "sql:sqlite:///r.db#t",
        "sql:env:URL#s.t",
        "callback:cb",
    ],
)
def test_canonical_text_parses_to_the_same_spec(in_tmp: Path, text: str) -> None:
    spec = parse_sink(text)
    assert parse_sink(spec.text) == spec


BAD_SPECS = [
    ("", "empty"),
    ("   \t ", "empty"),
    ("x" * 10_240, "10240 characters long"),
    ("https://example.com/" + "p" * 10_000, "characters long"),
    ("out\x00.jsonl", "NUL at position 3"),
    ("webhook:https://example.com/\nx", "control character"),
    ("ftp://example.com/results", "unknown sink kind 'ftp'"),
    ("z" * 4000 + ":x", "unknown sink kind 'zzz"),
    ("bad\udc80name.jsonl", "not valid text (position 3)"),
    ("s3:bucket/key", "unknown sink kind 's3'"),
    ("results.xlsx", "must end in .jsonl or .csv"),
    ("results", "must end in .jsonl or .csv"),
    ("jsonl:", "file path is missing"),
    ("csv:some/folder/", "is a directory"),
    ("sql:sqlite:///r.db", "table is missing"),
    ("sql:sqlite:///r.db#", "table is missing"),
    ("sql:#answers", "database URL is missing"),
    ("sql:sqlite:///r.db#drop table x", "not a plain name"),
    ("sql:sqlite:///r.db#a.b.c", "not a plain name"),
    ("sql:sqlite:///r.db#" + "t" * 64, "not a plain name"),
    ("sql:sqlite:///r.db#1abc", "not a plain name"),
    ("sql:sqlite:///" + "n" * 300 + ".db#t", "cannot use the database file path"),
    ("sql:not a url#t", "not a SQLAlchemy URL"),
    ("sql:nosuchdb://host/db#t", "unknown database 'nosuchdb'"),
    ("sql:sqlite://#t", "in-memory"),
    ("sql:sqlite:///:memory:#t", "in-memory"),
    ("sql:env:#t", "environment variable name"),
    ("sql:env:9LIVES#t", "environment variable name"),
    ("postgresql+psycopg://app@db/crm", "needs the sql: prefix"),
    ("webhook:", "URL is missing"),
    ("webhook:ftp://example.com/x", "must start with http:// or https://"),
    ("webhook:example.com/hook", "must start with http:// or https://"),
    ("https://", "has no host"),
    ("https:///path-only", "has no host"),
    ("http://example.com:99999/", "not valid"),
    ("http://example.com:0/", "port cannot be 0"),
    ("http://[::1/", "not valid"),
    ("https://example.com/a b", "spaces"),
    ("callback:", "callback name"),
    ("callback:not allowed!", "callback name"),
]


@pytest.mark.parametrize(("text", "expected"), BAD_SPECS)
def test_bad_specs_get_one_clear_line(in_tmp: Path, text: str, expected: str) -> None:
    (in_tmp / "some" / "folder").mkdir(parents=True)
    with pytest.raises(InputError) as raised:
        parse_sink(text)
    message = str(raised.value)
    assert expected in message
    assert "\n" not in message
    assert len(message) < 400  # a 10 kB spec is not repeated back whole


def test_a_path_to_a_directory_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "looks-like.jsonl"
    folder.mkdir()
    for text in (str(folder), f"jsonl:{folder}", f"csv:{tmp_path}"):
        with pytest.raises(InputError, match="is a directory, not a file"):
            parse_sink(text)
    with pytest.raises(InputError, match="is a directory"):
        parse_sink(f"sql:sqlite:///{tmp_path}#t")


def test_a_name_too_long_for_the_filesystem_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot use this path"):
        parse_sink(f"jsonl:{tmp_path}/{'n' * 300}.jsonl")


@pytest.mark.parametrize(
    "text",
    [
        "sql:postgresql+psycopg://app:hunter2secret@db.internal/crm#llm_results",
        "sql:postgresql+psycopg://app@db.internal/crm?password=hunter2secret#llm_results",
    ],
)
def test_a_database_password_is_refused_and_not_repeated(text: str) -> None:
    with pytest.raises(InputError) as raised:
        parse_sink(text)
    message = str(raised.value)
    assert "hunter2secret" not in message
    assert "environment variable" in message
    assert "sql:env:NAME#llm_results" in message


@pytest.mark.parametrize(
    "text",
    [
        "https://bot:hunter2secret@hooks.example.com/x",
        "https://bot:hunter2@zebra9@hooks.example.com/x",
        "https://bot:hunter2/zebra9@hooks.example.com/x",
        "sql:postgresql+psycopg://app:hunter2/zebra9@db/crm#t",
        "sql:postgresql+psycopg://app:hunter2@zebra9@db/crm#t",
    ],
)
def test_no_part_of_a_password_is_repeated(text: str) -> None:
    with pytest.raises(InputError) as raised:
        parse_sink(text)
    assert "hunter2" not in str(raised.value)
    assert "zebra9" not in str(raised.value)


def test_display_hides_only_what_may_be_secret(in_tmp: Path) -> None:
    assert parse_sink("jsonl:odd?name.jsonl").display() == f"jsonl:{in_tmp}/odd?name.jsonl"
    assert parse_sink("http://h:8080/a@b").display() == "webhook:http://h:8080/a@b"


def test_random_garbage_never_escapes_as_another_exception(in_tmp: Path) -> None:
    pieces = [
        "jsonl:",
        "csv:",
        "sql:",
        "env:",
        "webhook:",
        "https://",
        "callback:",
        "sqlite:///",
        "postgresql://",
        "#",
        ":",
        "/",
        "..",
        "?",
        "@",
        "%",
        "[",
        "]",
        "\x00",
        "é",
        "\U0001f600",
        " ",
        ".jsonl",
        ".csv",
        "a",
        "1",
        "~",
        "\\",
        "\udcff",
    ]
    rng = random.Random(20240601)
    messages: list[str] = []
    specs: list[SinkSpec] = []
    for _ in range(2000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        try:
            specs.append(parse_sink(text))
        except InputError as exc:  # anything else fails the test with its traceback
            messages.append(str(exc))
    assert messages
    assert specs
    assert all("\n" not in message for message in messages)
    assert all(parse_sink(spec.text) == spec for spec in specs)


def test_a_callback_not_registered_here_is_unavailable() -> None:
    spec = parse_sink("callback:update_crm")
    with pytest.raises(SinkUnavailable, match="update_crm"):
        open_sink(spec)
    with pytest.raises(SinkUnavailable):
        open_sink(spec, {"other": lambda result: None})


def test_an_unset_url_variable_is_unavailable() -> None:
    with pytest.raises(SinkUnavailable, match="HALFRATE_TEST_SINK_URL is not set"):
        open_sink(parse_sink("sql:env:HALFRATE_TEST_SINK_URL#t"))


def test_a_bad_url_in_the_variable_is_unavailable_without_showing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HALFRATE_TEST_SINK_URL", "nonsense://u:hunter2secret@h/db")
    with pytest.raises(SinkUnavailable) as raised:
        open_sink(parse_sink("sql:env:HALFRATE_TEST_SINK_URL#t"))
    assert "hunter2secret" not in str(raised.value)
    assert "HALFRATE_TEST_SINK_URL" in str(raised.value)


def test_callback_gets_results_and_failures_are_per_item() -> None:
    seen: list[Result] = []

    def record(result: Result) -> None:
        if result.key == "bad":
            raise ValueError("CRM said no")
        seen.append(result)

    sink = open_sink(parse_sink("callback:record"), {"record": record})
    assert isinstance(sink, CallbackSink)
    error = Outgoing(
        "gone", "job-1", "sink-1:gone", "failed", 400, None, '{"code": "x", "message": "y"}'
    )
    report = sink.deliver([outgoing("good"), outgoing("bad"), error], cursor="kept")
    assert report == DeliveryReport(
        delivered=["sink-1:good", "sink-1:gone"],
        failed={"sink-1:bad": "callback record raised ValueError: CRM said no"},
        cursor="kept",
    )
    assert seen == [
        Result("good", "succeeded", 200, RESPONSE, None),
        Result("gone", "failed", 400, None, {"code": "x", "message": "y"}),
    ]
    sink.close()


def test_callback_with_an_unreadable_stored_response_fails_that_item_only() -> None:
    seen: list[str] = []
    sink = open_sink(parse_sink("callback:cb"), {"cb": lambda result: seen.append(result.key)})
    report = sink.deliver(
        [outgoing("torn", response_json='{"choices": ['), outgoing("fine")], cursor=None
    )
    assert report.delivered == ["sink-1:fine"]
    assert "not valid JSON" in report.failed["sink-1:torn"]
    assert seen == ["fine"]
