"""The web page's accounts: argon2 hashes only, sign-in that answers a wrong email like a wrong
password, members who see only their team's jobs (another team's job is "not found", exactly as
one that does not exist), admins who see all, and `halfrate user` for scripts."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

import halfrate
from halfrate.errors import InputError, NotFound
from tests.integration.test_cli import assert_one_line_error, run

PASSWORD = "correct horse battery"


def test_accounts_keep_hashes_only_and_sign_in_checks_them(database_url: str) -> None:
    with halfrate.connect(database_url) as hr:
        assert not hr.has_accounts()
        ann = hr.add_account(" Ann@Example.com ", PASSWORD, "Marketing", admin=True)
        assert (ann.email, ann.team, ann.is_admin) == ("ann@example.com", "Marketing", True)
        assert hr.has_accounts()
        assert hr.sign_in("ANN@example.com", PASSWORD) == ann
        assert hr.sign_in("ann@example.com", PASSWORD + "!") is None
        assert hr.sign_in("nobody@example.com", PASSWORD) is None
        assert hr.sign_in("ann@example.com", "x" * 100_000) is None
        with pytest.raises(InputError, match="already has an account"):
            hr.add_account("ann@example.com", PASSWORD, "Other")
        engine = sa.create_engine(database_url)
        with engine.connect() as conn:
            stored = conn.execute(sa.text("SELECT password_hash FROM users")).scalar_one()
        engine.dispose()
        assert stored.startswith("$argon2id$")
        assert PASSWORD not in stored


@pytest.mark.parametrize(
    ("email", "password", "team", "needle"),
    [
        ("not-an-email", PASSWORD, "T", "is not an email address"),
        ("a@b.co", "short", "T", "at least 10 characters"),
        ("a@b.co", "x" * 2000, "T", "at most 1,024 characters"),
        ("a@b.co", PASSWORD, "  ", "the team needs a name"),
        ("a@b.co", PASSWORD, "x" * 300, "at most 200 characters"),
    ],
)
def test_bad_account_details_are_refused_by_name(
    sqlite_url: str, email: str, password: str, team: str, needle: str
) -> None:
    with halfrate.connect(sqlite_url) as hr:
        with pytest.raises(InputError, match=needle):
            hr.add_account(email, password, team)
        assert not hr.has_accounts()


def test_members_see_their_teams_jobs_and_admins_see_all(database_url: str, tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text("q\nhello\n", encoding="utf-8")
    with halfrate.connect(database_url) as hr:
        admin = hr.add_account("admin@example.com", PASSWORD, "Ops", admin=True)
        mia = hr.add_account("mia@example.com", PASSWORD, "Marketing")
        sam = hr.add_account("sam@example.com", PASSWORD, "Support")
        job = hr.submit_table(hr.plan_table(table, "{q}"))
        hr.own_job(job.job_id, mia, "t.csv")
        assert hr.job_for(job.job_id, mia).id == job.job_id
        assert hr.job_for(job.job_name, admin).id == job.job_id
        with pytest.raises(NotFound, match="no such job"):
            hr.job_for(job.job_id, sam)
        with pytest.raises(NotFound, match="no such job"):
            hr.job_for("job_doesnotexist", sam)
        assert [j.job_id for j in hr.jobs_for(mia)] == [job.job_id]
        assert hr.jobs_for(sam) == []
        assert [j.owner for j in hr.jobs_for(admin)] == ["mia@example.com"]
        hr.remove_person("mia@example.com")
        assert [j.owner for j in hr.jobs_for(admin)] == [None]  # the job stays with its team


def test_user_commands_take_the_password_from_stdin_or_make_one(isolated_env: Path) -> None:
    made = run("user", "add", "lee@example.com", "--team", "Finance", "--generate-password")
    assert made.returncode == 0, made.stderr
    assert "added lee@example.com (member of team Finance)" in made.stdout
    generated = made.stdout.split("password: ")[1].strip()
    assert len(generated) >= 20
    with halfrate.connect() as hr:
        assert hr.sign_in("lee@example.com", generated) is not None
    listed = run("user", "list")
    assert "lee@example.com  Finance  member" in listed.stdout
    assert_one_line_error(run("user", "add", "kim@example.com", "--team", "F"), "no password")
    assert_one_line_error(run("user", "remove", "kim@example.com"), "no account for")
    assert "disabled lee@example.com" in run("user", "disable", "Lee@example.com").stdout
    assert "lee@example.com  Finance  member  disabled" in run("user", "list").stdout
    with halfrate.connect() as hr:
        assert hr.sign_in("lee@example.com", generated).disabled  # type: ignore[union-attr]
    assert "enabled lee@example.com" in run("user", "enable", "lee@example.com").stdout
    assert_one_line_error(run("user", "disable", "kim@example.com"), "no account for")
    assert run("user", "remove", "lee@example.com").returncode == 0
    with halfrate.connect() as hr:
        logged = [(e.actor, e.action) for e in hr.audit_log()]
    assert logged == [(None, "user.remove"), (None, "user.enable"), (None, "user.disable")]
