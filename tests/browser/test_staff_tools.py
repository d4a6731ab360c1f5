"""The staff page's login-user view in Chromium: one card per support tool, against the nine
lookups' stand-ins, and its screenshot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import Page

from tests.browser.conftest import MakeStage
from tests.support.fake_tools import DEV_EMAIL, DEV_LOGIN_USER, Tools

STAFF_KEY = "staff-key-for-the-page-0123456789"


def staff_config(tools: Tools, **changes: dict[str, Any]) -> dict[str, Any]:
    return {
        "staff_page": {"enabled": True},
        "staff": {"api_keys": [{"value": STAFF_KEY}]},
        "lookups": tools.lookups(**changes),
    }


async def look_up_everywhere(page: Page, login_user: str, email: str = "") -> dict[str, Any]:
    await page.evaluate('document.getElementById("tools").hidden = true')
    await page.fill("#key", STAFF_KEY)
    await page.fill("#login-user", login_user)
    await page.fill("#login-email", email)
    await page.click("#tools-button")
    await page.wait_for_selector("#tools:not([hidden])")
    shown: dict[str, Any] = await page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll("article.tool")].map((c) => [
            c.dataset.lookup,
            {
                status: c.dataset.status,
                code: c.dataset.code,
                text: c.innerText,
                links: [...c.querySelectorAll("a.open")].map((a) => a.href),
            },
        ]))"""
    )
    return shown


async def test_the_login_user_view_shows_one_card_per_tool_with_links(
    make_stage: MakeStage, fake_tools: Tools, screenshots: Path
) -> None:
    wrong = {"access_token": {"value": "not-the-intercom-token-0123"}}
    stage = await make_stage(**staff_config(fake_tools, intercom=wrong))
    page = await stage.open(stage.gateway + "/staff", signed_in=False)
    cards = await look_up_everywhere(page, DEV_LOGIN_USER)
    assert list(cards) == list(fake_tools.lookups())
    assert cards["intercom"]["status"] == "error"
    assert cards["intercom"]["code"] == "vendor_auth_failed"
    assert "refused the gateway's API credentials" in cards["intercom"]["text"]
    others = {name: card["status"] for name, card in cards.items() if name != "intercom"}
    assert others.pop("chat") == "skipped"
    assert "visitor ID only" in cards["chat"]["text"]
    assert set(others.values()) == {"found"}
    assert "by email (from messaging)" in cards["hubspot"]["text"]
    assert DEV_EMAIL in cards["crisp"]["text"]
    assert cards["freshdesk"]["links"] == [f"{fake_tools.freshdesk.url}/a/contacts/43000001001"]
    assert await page.inner_text("#tools-summary") == "Found in 7 of 9 tools"
    assert stage.page_errors == []
    await page.screenshot(path=screenshots / "staff-login-user.png", full_page=True)


async def test_the_login_user_view_says_why_a_tool_has_nothing(
    make_stage: MakeStage, fake_tools: Tools
) -> None:
    stage = await make_stage(**staff_config(fake_tools))
    page = await stage.open(stage.gateway + "/staff", signed_in=False)
    cards = await look_up_everywhere(page, "nobody-at-all")
    assert cards["intercom"]["status"] == "not_found"
    assert "no record of this person" in cards["intercom"]["text"]
    assert cards["front"]["status"] == "skipped"
    assert "no email was given or found" in cards["front"]["text"]
    assert await page.inner_text("#tools-summary") == "Found in 0 of 9 tools"


async def test_the_login_user_view_explains_a_refused_key_and_bad_input(
    make_stage: MakeStage, fake_tools: Tools
) -> None:
    stage = await make_stage(**staff_config(fake_tools))
    page = await stage.open(stage.gateway + "/staff", signed_in=False)
    await page.fill("#key", "not-the-staff-key-0123")
    await page.fill("#login-user", DEV_LOGIN_USER)
    await page.click("#tools-button")
    await page.wait_for_selector("#tools-error")
    assert await page.get_attribute("#tools-error", "data-code") == "staff_unauthorized"
    await look_up_everywhere(page, "bad id")
    assert await page.get_attribute("#tools-error", "data-status") == "400"
    assert sum(fake_tools.calls().values()) == 0
