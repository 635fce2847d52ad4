"""The money and the settings in a real browser (Debian's Chromium through Playwright): an
admin reads the spend of a store seeded with several teams, features, lanes and days (charts
drawn, the figures of `halfrate report`), sets a budget, changes the policy and finds both in
the audit log; a member sees their own team's spend and budget only and cannot reach the admin
pages. Every page passes the accessibility check at laptop and phone width, and is
screenshotted at both into ``test-artifacts/screenshots/``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

import halfrate
from halfrate.api import Halfrate
from halfrate.sandbox.server import SandboxServer
from tests.integration.test_report import SEEDS, seed
from tests.integration.test_web_browser import (
    PASSWORD,
    accessible,
    browser,
    context,
    serve,
    shoot,
    sign_in,
)

__all__ = ["browser"]  # the fixture, used by name

BROWSER_KEY = "sk-proj-browser-test-Hq2Lm7Vx9Kc4f2A"
ALL_BATCH = '[[rule]]\nname = "Everything waits for a batch"\nlane = "batch"\n'


@dataclass
class Site:
    url: str
    hr: Halfrate


@pytest.fixture
def seeded_site(isolated_env: Path) -> Iterator[Site]:
    """The app over a store seeded with spend (no provider and no worker: these pages read
    and set, they run nothing)."""
    with halfrate.connect() as hr:
        seed(hr.store, SEEDS)  # November 2026: last month, as the page counts
        hr.store.ledger.rebuild_rollups()
        hr.add_account("ada@example.com", PASSWORD, "Ops", admin=True)
        hr.add_account("sue@example.com", PASSWORD, "support")
        for url in serve(hr, worker=False):
            yield Site(url, hr)


def test_an_admin_reads_the_money_and_changes_budgets_and_policy(
    browser: Browser, seeded_site: Site
) -> None:
    site = seeded_site
    page = context(browser).new_page()
    sign_in(page, site, "ada@example.com")
    nav = page.get_by_role("navigation", name="Main")
    for name in ("Jobs", "Spend", "Budgets", "Policy", "Keys", "People", "Audit log"):
        expect(nav.get_by_role("link", name=name, exact=True)).to_be_visible()

    nav.get_by_role("link", name="Spend").click()
    page.get_by_label("Period").select_option("last-month")
    page.get_by_role("button", name="Show").click()
    expect(page.locator('[data-figure="spend_usd"]')).to_contain_text("$10.5500")
    expect(
        page.get_by_role("img", name="Spend by day, by lane (the table below has the figures)")
    ).to_be_visible()
    assert page.evaluate("document.querySelectorAll('canvas[data-chart]').length") == 4
    # Chart.js draws each chart from the page's figures once its deferred scripts have run.
    page.wait_for_function(
        "Array.from(document.querySelectorAll('canvas[data-chart]'))"
        ".every(c => window.Chart && window.Chart.getChart(c))"
    )
    accessible(page, "spend")
    shoot(page, "spend-admin")

    nav.get_by_role("link", name="Budgets").click()
    page.get_by_label("For a").select_option("team")
    page.get_by_label("Name").fill("support")
    page.get_by_label("Monthly cap (dollars)").fill("12")
    page.get_by_role("button", name="Save budget").click()
    expect(page.get_by_role("heading", name="Team support")).to_be_visible()
    expect(
        page.get_by_role("img", name="team support: 0.0% of the cap spent or reserved")
    ).to_be_visible()
    accessible(page, "budgets")
    shoot(page, "budgets-admin")

    nav.get_by_role("link", name="Policy").click()
    page.get_by_label("Policy (TOML)").fill('[[rule]]\nname = "Nowhere"\nlane = "teleport"\n')
    page.get_by_role("button", name="Check and save policy").click()
    expect(page.get_by_role("alert")).to_contain_text("line 3")
    expect(page.locator("[data-where]")).to_contain_text("the built-in policy")
    page.get_by_label("Policy (TOML)").fill(ALL_BATCH)
    page.get_by_role("button", name="Check and save policy").click()
    expect(page.locator("[data-where]")).to_contain_text("version 1, saved by ada@example.com")
    page.get_by_label("A person is waiting").check()
    page.get_by_role("button", name="Explain").click()
    expect(page.locator("[data-lane]")).to_have_text("batch")
    accessible(page, "policy")
    shoot(page, "policy-admin")

    nav.get_by_role("link", name="Audit log").click()
    rows = page.get_by_role("row")
    expect(rows).to_have_count(3)  # the header, the budget, the policy
    expect(page.get_by_role("cell", name="policy.save")).to_be_visible()
    expect(page.get_by_role("cell", name="budget.set")).to_be_visible()
    accessible(page, "audit log")
    shoot(page, "audit-admin")
    page.context.close()


def test_a_member_sees_their_team_only_and_no_admin_page(
    browser: Browser, seeded_site: Site
) -> None:
    site = seeded_site
    site.hr.set_budget("team", "support", 12)
    site.hr.set_budget("team", "marketing", 300)
    page = context(browser, "phone").new_page()
    sign_in(page, site, "sue@example.com")
    nav = page.get_by_role("navigation", name="Main")
    for name in ("Audit log", "Keys", "People"):
        expect(nav.get_by_role("link", name=name)).to_have_count(0)
    nav.get_by_role("link", name="Spend").click()
    page.get_by_label("Period").select_option("last-month")
    page.get_by_role("button", name="Show").click()
    expect(page.locator('[data-figure="spend_usd"]')).to_contain_text("$7.0000")  # support's
    expect(page.get_by_label("Team")).to_have_count(0)
    expect(page.get_by_text("digest")).to_have_count(0)  # marketing's feature
    shoot(page, "spend-member")
    nav.get_by_role("link", name="Budgets").click()
    expect(page.get_by_role("heading", name="Team support")).to_be_visible()
    expect(page.get_by_role("heading", name="Team marketing")).to_have_count(0)
    expect(page.get_by_role("button", name="Save budget")).to_have_count(0)
    shoot(page, "budgets-member")
    for path in ("/audit", "/keys", "/people"):
        answer = page.goto(f"{site.url}{path}")
        assert answer is not None
        assert answer.status == 403
        expect(page.get_by_role("alert")).to_contain_text("Only an admin can do this.")
    page.context.close()


def test_an_admin_adds_a_person_and_saves_a_key(
    browser: Browser, seeded_site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = seeded_site
    page = context(browser).new_page()
    sign_in(page, site, "ada@example.com")
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="People").click()
    page.get_by_label("Email", exact=True).fill("lin@example.com")
    page.get_by_label("Team", exact=True).fill("finance")
    page.get_by_label("Role", exact=True).select_option("member")
    page.get_by_role("button", name="Add person").click()
    expect(page.get_by_role("heading", name="Welcome link for lin@example.com")).to_be_visible()
    link = page.get_by_role("textbox", name="Link for lin@example.com").input_value()
    expect(page.get_by_role("heading", name="lin@example.com", exact=True)).to_be_visible()
    accessible(page, "people")
    shoot(page, "people-admin")

    newcomer = context(browser, "phone").new_page()
    newcomer.goto(link)
    expect(newcomer.get_by_role("heading", name="Set your password")).to_be_visible()
    accessible(newcomer, "password link")
    shoot(newcomer, "password-link")
    newcomer.get_by_label("New password", exact=True).fill("a long new pass phrase")
    newcomer.get_by_label("New password again").fill("a long new pass phrase")
    newcomer.get_by_role("button", name="Set password").click()
    expect(newcomer.get_by_role("link", name="Sign out")).to_be_visible()
    expect(newcomer.get_by_text("lin@example.com · finance")).to_be_visible()
    newcomer.goto(link)
    expect(newcomer.get_by_role("heading", name="This link no longer works")).to_be_visible()
    newcomer.context.close()

    with SandboxServer(latency=0.0) as sandbox:
        monkeypatch.setenv("OPENAI_BASE_URL", sandbox.base_url)
        monkeypatch.setenv("HALFRATE_SECRET_KEY", "s" * 40)
        nav.get_by_role("link", name="Keys").click()
        page.get_by_label("OpenAI API key").fill(BROWSER_KEY)
        page.get_by_role("button", name="Save keys").click()
        expect(page.get_by_role("status")).to_contain_text("OpenAI accepted the key. Saved.")
        expect(page.locator('[data-provider="openai"] [data-last4]')).to_have_text("4f2A")
        assert BROWSER_KEY not in page.content()
        expect(page.get_by_label("OpenAI API key")).to_have_value("")
        accessible(page, "keys")
        shoot(page, "keys-admin")
    page.context.close()
