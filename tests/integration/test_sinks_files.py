"""File sinks on a real filesystem: one line per key across crashes, the CSV header once, and a
file changed behind halfrate's back is left alone."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import orjson

from halfrate.models import Result
from halfrate.sinks import DeliveryReport, Outgoing, Sink, parse_sink
from halfrate.sinks.base import to_result
from halfrate.sinks.opening import open_sink
from halfrate.tabular.results import CSV_COLUMNS, result_record, write_csv


def outgoing(key: str, *, status: str = "succeeded", text: str = "hello") -> Outgoing:
    if status == "succeeded":
        response = {"choices": [{"message": {"role": "assistant", "content": f"{text} {key}"}}]}
        return Outgoing(
            key, "job-1", f"s1:{key}", status, 200, orjson.dumps(response).decode(), None
        )
    error = {"code": "invalid_request", "message": f'bad {key}, "quoted"\nnew line'}
    return Outgoing(key, "job-1", f"s1:{key}", status, 400, None, orjson.dumps(error).decode())


def sink_for(tmp_path: Path, name: str) -> Sink:
    return open_sink(parse_sink(str(tmp_path / name)))


def jsonl_keys(path: Path) -> list[str]:
    return [orjson.loads(line)["custom_id"] for line in path.read_bytes().splitlines()]


def delivered_all(report: DeliveryReport, items: list[Outgoing]) -> bool:
    return report.delivered == [i.idempotency_key for i in items] and not report.failed


def test_jsonl_lines_are_export_records(tmp_path: Path) -> None:
    sink = sink_for(tmp_path, "out.jsonl")
    items = [outgoing("a"), outgoing("b", status="failed")]
    report = sink.deliver(items, None)
    assert delivered_all(report, items)
    path = tmp_path / "out.jsonl"
    assert report.cursor == str(path.stat().st_size)
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert lines == [result_record(to_result(item)) for item in items]
    assert list(lines[0]) == ["custom_id", "status", "status_code", "response", "error"]


def test_jsonl_exactly_once_across_a_crash(tmp_path: Path) -> None:
    sink = sink_for(tmp_path, "out.jsonl")
    path = tmp_path / "out.jsonl"
    first = sink.deliver([outgoing("a"), outgoing("b")], None)

    # A delivery that wrote its lines but crashed before halfrate stored the cursor, and a
    # half-written line after it.
    lost = sink.deliver([outgoing("c"), outgoing("d")], first.cursor)
    assert lost.cursor != first.cursor
    with path.open("ab") as torn:
        torn.write(b'{"custom_id":"e","sta')

    again = sink.deliver([outgoing("c"), outgoing("d"), outgoing("e")], first.cursor)
    assert again.delivered == ["s1:c", "s1:d", "s1:e"]
    assert jsonl_keys(path) == ["a", "b", "c", "d", "e"]
    assert again.cursor == str(path.stat().st_size)

    # A crash during the very first delivery: cursor None starts the file afresh.
    restarted = sink.deliver([outgoing("a")], None)
    assert jsonl_keys(path) == ["a"]
    assert restarted.cursor == str(path.stat().st_size)


def test_csv_header_once_and_rows_like_export(tmp_path: Path) -> None:
    sink = sink_for(tmp_path, "out.csv")
    path = tmp_path / "out.csv"
    first_items = [outgoing("a"), outgoing("b", status="failed")]
    first = sink.deliver(first_items, None)
    lost = sink.deliver([outgoing("c")], first.cursor)  # crashed before the cursor was stored
    with path.open("ab") as torn:
        torn.write(b'c,succeeded,"half a ')
    assert lost.cursor is not None
    second_items = [outgoing("c"), outgoing("d")]
    second = sink.deliver(second_items, first.cursor)
    assert delivered_all(second, second_items)

    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == list(CSV_COLUMNS)
    assert [row[0] for row in rows] == ["custom_id", "a", "b", "c", "d"]
    assert rows[1][2] == "hello a"  # output_text
    assert rows[2][3:5] == ["invalid_request", 'bad b, "quoted"\nnew line']

    expected = io.StringIO(newline="")
    results: list[Result] = [to_result(i) for i in [*first_items, *second_items]]
    write_csv(results, expected)
    assert path.read_bytes() == expected.getvalue().encode("utf-8")


def test_a_file_shorter_than_the_cursor_is_not_touched(tmp_path: Path) -> None:
    sink = sink_for(tmp_path, "out.jsonl")
    path = tmp_path / "out.jsonl"
    first = sink.deliver([outgoing("a"), outgoing("b")], None)
    path.write_bytes(b'{"custom_id":"a"}\n')  # someone edited the file

    report = sink.deliver([outgoing("c"), outgoing("d")], first.cursor)
    assert report.delivered == []
    assert set(report.failed) == {"s1:c", "s1:d"}
    assert "truncated or edited outside halfrate" in report.failed["s1:c"]
    assert report.cursor == first.cursor
    assert path.read_bytes() == b'{"custom_id":"a"}\n'


def test_a_deleted_file_is_not_restarted(tmp_path: Path) -> None:
    sink = sink_for(tmp_path, "out.jsonl")
    first = sink.deliver([outgoing("a")], None)
    (tmp_path / "out.jsonl").unlink()
    report = sink.deliver([outgoing("b")], first.cursor)
    assert "is gone" in report.failed["s1:b"]
    assert not (tmp_path / "out.jsonl").exists()


def test_a_missing_folder_is_a_failure_not_an_exception(tmp_path: Path) -> None:
    sink = sink_for(tmp_path, "no/such/folder/out.jsonl")
    report = sink.deliver([outgoing("a")], None)
    assert report.cursor is None
    assert "does not exist" in report.failed["s1:a"]
    assert not (tmp_path / "no").exists()


def test_an_unwritable_file_is_a_failure(tmp_path: Path) -> None:
    sink = sink_for(tmp_path, "out.jsonl")
    (tmp_path / "out.jsonl").mkdir()  # replaced by a folder after the spec was checked
    report = sink.deliver([outgoing("a")], None)
    assert report.failed == {"s1:a": f"cannot write {tmp_path / 'out.jsonl'}: Is a directory"}
    assert report.cursor is None


def test_a_bad_cursor_fails_every_item(tmp_path: Path) -> None:
    report = sink_for(tmp_path, "out.jsonl").deliver([outgoing("a")], "not-a-number")
    assert "not a byte offset" in report.failed["s1:a"]
    assert not (tmp_path / "out.jsonl").exists()


def test_an_unreadable_stored_result_fails_alone(tmp_path: Path) -> None:
    broken = Outgoing("x", "job-1", "s1:x", "succeeded", 200, "[1, 2", None)
    report = sink_for(tmp_path, "out.jsonl").deliver([outgoing("a"), broken], None)
    assert report.delivered == ["s1:a"]
    assert "not valid JSON" in report.failed["s1:x"]
    assert jsonl_keys(tmp_path / "out.jsonl") == ["a"]


def test_an_item_given_twice_is_written_once(tmp_path: Path) -> None:
    report = sink_for(tmp_path, "out.jsonl").deliver([outgoing("a"), outgoing("a")], None)
    assert report.delivered == ["s1:a"]
    assert jsonl_keys(tmp_path / "out.jsonl") == ["a"]


def test_nothing_to_deliver_leaves_the_cursor(tmp_path: Path) -> None:
    report = sink_for(tmp_path, "out.csv").deliver([], "42")
    assert report == DeliveryReport(delivered=[], failed={}, cursor="42")
    assert not (tmp_path / "out.csv").exists()
