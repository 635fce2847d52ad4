"""The Budgets page and the audit log: an admin sets, changes and removes caps (the same caps
`halfrate budget` sees), each change in the audit log with who made it; a member sees their
team's budget only and cannot change any; forms without the CSRF token, or with bad values,
change nothing and say why in one line."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import halfrate
from halfrate.api import Halfrate
from tests.integration.test_cli import run
from tests.integration.test_web import PASSWORD, client, sign_in


@pytest.fixture
def hr(isolated_env: Path) -> Iterator[Halfrate]:
    with halfrate.connect() as connection:
        connection.add_account("sam@example.com", PASSWORD, "support")
        connection.add_account("ada@example.com", PASSWORD, "ops", admin=True)
        yield connection


def signed(hr: Halfrate, email: str) -> tuple[TestClient, str]:
    web = client(hr)
    return web, sign_in(web, email)


def caps(hr: Halfrate) -> dict[tuple[str, str], int]:
    return {(s.budget.kind, s.budget.name): s.budget.monthly_nano for s in hr.budgets()}


def test_an_admin_sets_changes_and_removes_a_budget(hr: Halfrate) -> None:
    web, token = signed(hr, "ada@example.com")
    form = {"csrf_token": token, "kind": "team", "name": "support", "cap": "200"}
    assert web.post("/budgets", data=form).status_code == 303
    assert web.post("/budgets", data={**form, "cap": "$1,250.50"}).status_code == 303
    assert caps(hr) == {("team", "support"): 1_250_500_000_000}
    page = web.get("/budgets").text
    assert "Team support" in page
    assert "$1,250.5000" in page
    assert 'aria-label="team support: 0.0% of the cap spent or reserved"' in page
    # The command line sees the same cap.
    listed = run("budget", "list")
    assert "$1,250.50" in listed.stdout
    removed = web.post(
        "/budgets/remove", data={"csrf_token": token, "kind": "team", "name": "support"}
    )
    assert removed.status_code == 303
    assert caps(hr) == {}
    log = web.get("/audit")
    assert log.status_code == 200
    assert log.text.count("ada@example.com") >= 3
    rows = list(csv.reader(io.StringIO(web.get("/audit.csv").text)))
    assert rows[0] == ["when_utc", "who", "action", "target", "detail"]
    assert [r[1:4] for r in rows[1:]] == [
        ["ada@example.com", "budget.remove", "team 'support'"],
        ["ada@example.com", "budget.set", "team 'support'"],
        ["ada@example.com", "budget.set", "team 'support'"],
    ]
    assert rows[2][4] == "cap $200.00 to $1,250.50 a month"


def test_a_member_sees_their_team_only_and_changes_nothing(hr: Halfrate) -> None:
    hr.set_budget("team", "support", 100)
    hr.set_budget("team", "marketing", 300)
    hr.set_budget("feature", "triage", 50)
    web, token = signed(hr, "sam@example.com")
    page = web.get("/budgets").text
    assert "Team support" in page
    assert "marketing" not in page
    assert "triage" not in page
    assert "Save budget" not in page
    assert ">Audit log<" not in page
    form = {"csrf_token": token, "kind": "team", "name": "support", "cap": "9999"}
    refused = web.post("/budgets", data=form)
    assert refused.status_code == 403
    assert "Only an admin can do this. Nothing was changed." in refused.text
    removal = {"csrf_token": token, "kind": "team", "name": "support"}
    assert web.post("/budgets/remove", data=removal).status_code == 403
    assert web.get("/audit").status_code == 403
    assert web.get("/audit.csv").status_code == 403
    assert caps(hr)[("team", "support")] == 100 * 10**9
    assert [e.action for e in hr.audit_log()] == ["budget.set"] * 3  # only the admin's own


def test_a_form_without_its_token_changes_nothing(hr: Halfrate) -> None:
    web, _token = signed(hr, "ada@example.com")
    answer = web.post("/budgets", data={"kind": "team", "name": "support", "cap": "5"})
    assert answer.status_code == 403
    assert caps(hr) == {}


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"kind": "team", "name": "support", "cap": "-5"}, "cap: -5 is not a positive amount"),
        ({"kind": "team", "name": "support", "cap": "0"}, "cap: 0 is not a positive amount"),
        ({"kind": "team", "name": "support", "cap": "lots"}, "is not an amount of dollars"),
        ({"kind": "team", "name": "support", "cap": ""}, "is not an amount of dollars"),
        ({"kind": "team", "name": "support", "cap": "1e99"}, "is not a positive amount up to"),
        ({"kind": "team", "name": "", "cap": "5"}, "name: a team name is 1 to 200 characters"),
        ({"kind": "team", "name": "n" * 201, "cap": "5"}, "name: a team name is 1 to 200"),
        ({"kind": "project", "name": "x", "cap": "5"}, "kind: &#39;project&#39; is not one of"),
        ({"kind": "<b>", "name": "x", "cap": "5"}, "kind: &#39;&lt;b&gt;&#39; is not one of"),
    ],
)
def test_bad_values_are_one_clear_message(hr: Halfrate, form: dict[str, str], message: str) -> None:
    web, token = signed(hr, "ada@example.com")
    answer = web.post("/budgets", data={"csrf_token": token, **form})
    assert answer.status_code == 400
    assert message in answer.text
    assert "<b>" not in answer.text.split("<main", 1)[1]
    assert caps(hr) == {}
    assert hr.audit_log() == []


def test_removing_a_budget_that_is_not_there_says_so(hr: Halfrate) -> None:
    web, token = signed(hr, "ada@example.com")
    answer = web.post(
        "/budgets/remove", data={"csrf_token": token, "kind": "team", "name": "nobody"}
    )
    assert answer.status_code == 400
    assert "no budget on team &#39;nobody&#39;" in answer.text


def test_a_huge_field_is_refused_naming_it(hr: Halfrate) -> None:
    web, token = signed(hr, "ada@example.com")
    form = {"csrf_token": token, "kind": "team", "name": "n" * 50_000, "cap": "5"}
    answer = web.post("/budgets", data=form)
    assert answer.status_code == 422
    assert "The form&#39;s name field is too long or not valid; nothing was changed." in answer.text
    assert caps(hr) == {}
