"""The prompt template over a table's columns, and cells as the text a prompt gets."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from halfrate.errors import InputError
from halfrate.tabular.cells import cell_text, inert
from halfrate.tabular.template import Template
from halfrate.tabular.write import added_columns, remove_stale_partials

COLUMNS = ("ticket text", "id")


def test_values_go_where_their_columns_are_named() -> None:
    template = Template.parse("#{id}: { ticket text } {{literal}} {id}", COLUMNS)
    assert template.columns == ("id", "ticket text", "id")
    row = {"ticket text": "It broke {badly}", "id": "7"}
    # A value's own braces are never read as placeholders.
    assert template.render(row) == "#7: It broke {badly} {literal} 7"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "{nope}",
            "character 1: {nope} is not a column of the file (its columns: ticket text, id)",
        ),
        ("{ticket txt}", "{ticket txt} is not a column of the file (did you mean {ticket text}?"),
        ("{id.__class__}", "{id.__class__} is not a column"),
        ("{0}", "{0} is not a column"),
        ("a {id", "character 3: a '{' without its '}'"),
        ("a {{id} }", "a '}' without its '{'"),
        ("just words", "names no column"),
        ("", "--prompt is empty"),
        ("{id}" + "x" * 100_001, "longer than 100,000 characters"),
    ],
)
def test_a_bad_prompt_says_where(text: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        Template.parse(text, COLUMNS)
    assert message in str(info.value)


def test_cells_read_as_a_spreadsheet_shows_them() -> None:
    assert cell_text(None) == ""
    assert cell_text(1200.0) == "1200"
    assert cell_text(3.5) == "3.5"
    assert cell_text(True) == "TRUE"
    assert cell_text(dt.date(2026, 12, 2)) == "2026-12-02"
    assert cell_text({"a": [1]}) == '{"a":[1]}'


def test_answers_never_run_as_formulas_and_our_columns_step_aside() -> None:
    assert inert("=SUM(A1)") == "'=SUM(A1)"
    assert inert('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert inert("+SUM(A1:A9)") == "'+SUM(A1:A9)"
    assert inert("@cmd") == "'@cmd"
    assert inert("-1+2") == "'-1+2"
    # Anything a spreadsheet could run, a list item too; tab and carriage return as well.
    assert inert("- a list item") == "'- a list item"
    assert inert("\t=1") == "'\t=1"
    assert inert("\r=1") == "'\r=1"
    # Plain numbers stay numbers; text stays as it is.
    for number in ("-1", "+2.5", "-0,5", "1e-3", "-.5"):
        assert inert(number) == number
    assert inert("plain") == "plain"
    assert added_columns(("answer", "status (halfrate)", "status")) == (
        "answer (halfrate)",
        "status (halfrate) (halfrate)",
        "error",
    )


def test_what_a_killed_writer_left_is_removed_and_a_live_writers_file_kept(
    tmp_path: Path,
) -> None:
    out = tmp_path / "t [1].answers.csv"
    old = tmp_path / ".t [1].answers.csv.partial"  # the name before writers were told apart
    dead = tmp_path / f".t [1].answers.csv.{2**22 + 12345}.partial"  # past any pid here
    live = tmp_path / f".t [1].answers.csv.{os.getpid()}.partial"
    other = tmp_path / ".t [1].answers.csv.ab12cd.partial"  # not a writer's: left alone
    for path in (old, dead, live, other):
        path.write_bytes(b"")
    assert sorted(remove_stale_partials(out)) == sorted([old, dead])
    assert live.exists()
    assert other.exists()
