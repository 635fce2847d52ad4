"""The People page: an admin adds a person (who sets their own password through a one-time
link), changes their team and role, makes a new password link, disables, enables and removes
them; each change is in the audit log. A link works once and in time, a disabled person is
signed out at once, setting a password signs out every other session, and an admin cannot
lock themselves out. A member reaches none of it."""

from __future__ import annotations

import re
import time

import sqlalchemy as sa
from fastapi.testclient import TestClient

from halfrate.api import Halfrate
from halfrate.store.admin_tables import account_links
from tests.integration.test_web import PASSWORD, client, csrf
from tests.integration.test_web_budgets import hr, signed

__all__ = ["hr"]  # the fixture, shared with the budgets page's tests
LINK = re.compile(r'value="(https?://[^"]+/password\?token=([^"]+))"')
NEW_PASSWORD = "a much longer pass phrase"


def made_link(page: str) -> str:
    found = LINK.search(page)
    assert found is not None, page[:2000]
    return found.group(2)


def set_password(web: TestClient, token: str, password: str = NEW_PASSWORD) -> int:
    page = web.get(f"/password?token={token}")
    if page.status_code != 200:
        return page.status_code
    form = {
        "csrf_token": csrf(page.text),
        "token": token,
        "password": password,
        "password_again": password,
    }
    return web.post("/password", data=form).status_code


def test_an_admin_adds_a_person_who_sets_their_own_password(hr: Halfrate) -> None:
    web, token = signed(hr, "ada@example.com")
    form = {"csrf_token": token, "email": "Lin@Example.com ", "team": "finance", "role": "member"}
    added = web.post("/people", data=form)
    assert added.status_code == 200
    assert added.headers["cache-control"] == "no-store"
    assert added.headers["referrer-policy"] == "no-referrer"
    link = made_link(added.text)
    person = {a.email: a for a in hr.accounts()}["lin@example.com"]
    assert (person.team, person.is_admin, person.disabled) == ("finance", False, False)
    # Nobody can sign in as them before they set a password, and the store keeps no token.
    assert hr.sign_in("lin@example.com", "") is None
    with hr.store.read() as conn:
        stored = conn.execute(sa.select(account_links.c.token_hash)).scalars().all()
    assert stored
    assert link not in stored
    newcomer = client(hr)
    assert set_password(newcomer, link) == 303
    assert newcomer.get("/jobs/new").status_code == 200  # signed in by setting it
    assert hr.sign_in("lin@example.com", NEW_PASSWORD) is not None
    # The link works once.
    assert set_password(client(hr), link) == 410
    assert "no longer works" in client(hr).get(f"/password?token={link}").text
    actions = [(e.actor, e.action, e.target) for e in hr.audit_log()]
    assert actions == [
        ("lin@example.com", "user.password", "lin@example.com"),
        ("ada@example.com", "user.add", "lin@example.com"),
    ]


def test_changes_of_team_role_and_state_take_effect_at_once(hr: Halfrate) -> None:
    admin, token = signed(hr, "ada@example.com")
    member, _ = signed(hr, "sam@example.com")
    change = {"csrf_token": token, "email": "sam@example.com", "team": "ops", "role": "admin"}
    assert admin.post("/people/change", data=change).status_code == 303
    sam = {a.email: a for a in hr.accounts()}["sam@example.com"]
    assert (sam.team, sam.is_admin) == ("ops", True)
    assert member.get("/people").status_code == 200  # an admin now, in the same session
    back = {**change, "team": "support", "role": "member"}
    assert admin.post("/people/change", data=back).status_code == 303
    assert member.get("/people").status_code == 403
    # Disabled: signed out at once, and refused at sign-in with a message saying why.
    who = {"csrf_token": token, "email": "sam@example.com"}
    assert admin.post("/people/disable", data=who).status_code == 303
    assert member.get("/jobs").status_code == 303  # to the sign-in page
    fresh = client(hr)
    form = {"email": "sam@example.com", "password": PASSWORD}
    refused = fresh.post("/signin", data={**form, "csrf_token": csrf(fresh.get("/signin").text)})
    assert refused.status_code == 403
    assert "This account is disabled" in refused.text
    assert admin.post("/people/enable", data=who).status_code == 303
    again = client(hr)
    allowed = again.post("/signin", data={**form, "csrf_token": csrf(again.get("/signin").text)})
    assert allowed.status_code == 303
    assert member.get("/jobs").status_code == 303  # the session from before stays ended
    assert admin.post("/people/remove", data=who).status_code == 303
    assert "sam@example.com" not in {a.email for a in hr.accounts()}
    assert again.get("/jobs").status_code == 303
    assert [e.action for e in hr.audit_log()] == [
        "user.remove",
        "user.enable",
        "user.disable",
        "user.role",
        "user.team",
        "user.role",
        "user.team",
    ]


def test_a_password_link_signs_out_every_other_session_and_replaces_older_links(
    hr: Halfrate,
) -> None:
    admin, token = signed(hr, "ada@example.com")
    member, _ = signed(hr, "sam@example.com")
    who = {"csrf_token": token, "email": "sam@example.com"}
    first = made_link(admin.post("/people/link", data=who).text)
    second = made_link(admin.post("/people/link", data=who).text)
    assert member.get("/jobs").status_code == 200  # the old password works until a new one
    assert set_password(client(hr), first) == 410  # replaced by the second
    assert set_password(client(hr), second) == 303
    assert member.get("/jobs").status_code == 303
    assert hr.sign_in("sam@example.com", PASSWORD) is None
    assert hr.sign_in("sam@example.com", NEW_PASSWORD) is not None


def test_an_expired_or_forged_link_sets_nothing(hr: Halfrate) -> None:
    token = hr.password_link("sam@example.com")
    with hr.store.write() as conn:
        conn.execute(sa.update(account_links).values(expires_at=time.time() - 1))
    assert set_password(client(hr), token) == 410
    for forged in ("", "x", "a" * 5000, "../../etc/passwd", "<script>"):
        page = client(hr).get("/password", params={"token": forged})
        assert page.status_code == 410
        assert "<script>" not in page.text
    web = client(hr)
    form = {
        "csrf_token": csrf(web.get("/signin").text),
        "token": "forged",
        "password": NEW_PASSWORD,
        "password_again": NEW_PASSWORD,
    }
    assert web.post("/password", data=form).status_code == 410
    assert hr.sign_in("sam@example.com", PASSWORD) is not None


def test_bad_values_and_self_lockout_are_refused_with_one_line(hr: Halfrate) -> None:
    web, token = signed(hr, "ada@example.com")
    cases = [
        ("/people", {"email": "not an email", "team": "x", "role": "member"}, 400, "not an email"),
        ("/people", {"email": "new@example.com", "team": " ", "role": "member"}, 400, "team"),
        ("/people", {"email": "new@example.com", "team": "x", "role": "owner"}, 400, "role"),
        ("/people", {"email": "sam@example.com", "team": "x", "role": "member"}, 400, "already"),
        ("/people/disable", {"email": "ada@example.com"}, 400, "cannot disable yourself"),
        ("/people/remove", {"email": "ada@example.com"}, 400, "cannot remove yourself"),
        (
            "/people/change",
            {"email": "ada@example.com", "team": "ops", "role": "member"},
            400,
            "cannot make a member yourself",
        ),
        ("/people/remove", {"email": "nobody@example.com"}, 404, "no account"),
        ("/people", {"email": "x@example.com", "team": "t" * 3000, "role": "member"}, 422, "team"),
    ]
    for path, form, status, words in cases:
        answer = web.post(path, data={"csrf_token": token, **form})
        assert answer.status_code == status, (path, form, answer.text[:300])
        assert words in answer.text, (path, words)
        assert "Traceback" not in answer.text
    assert {a.email for a in hr.accounts()} == {"ada@example.com", "sam@example.com"}
    assert hr.audit_log() == []


def test_members_and_forms_without_the_token_change_nothing(hr: Halfrate) -> None:
    member, token = signed(hr, "sam@example.com")
    assert member.get("/people").status_code == 403
    page = member.get("/jobs").text
    assert ">People<" not in page
    assert ">Keys<" not in page
    for path in ("/people", "/people/link", "/people/disable", "/people/remove"):
        form = {"csrf_token": token, "email": "ada@example.com", "team": "x", "role": "admin"}
        assert member.post(path, data=form).status_code == 403, path
    admin, _ = signed(hr, "ada@example.com")
    assert ">People<" in admin.get("/jobs").text
    form = {"email": "sam@example.com"}
    assert admin.post("/people/disable", data=form).status_code == 403  # no CSRF token
    assert not {a.email: a for a in hr.accounts()}["sam@example.com"].disabled
    assert hr.audit_log() == []
