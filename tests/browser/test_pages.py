"""The demo page and the staff page in Chromium: they render, behave, and are screenshotted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import Page

from tests.browser.conftest import MakeStage, Stage
from tests.conftest import CHAT_SECRET, MESSAGING_KEY_ID
from tests.support.fake_zendesk import CHAT_TOKEN, LOGIN_USER, FakeZendesk, Reply
from tests.support.jwtcheck import verify_hs256

DEMO = {"enabled": True, "i_understand_this_mints_login_cookies": True}
STAFF_KEY = "staff-key-for-the-page-0123456789"
LINKED = "9855790.xjj3ukxyIhn6j3"
ANONYMOUS = "9855790.anonymous1"
DEV_SUB = "82cd5e0c-c3ff-11e9-b199-c1e5fc81c37f"  # the form's default
TARGETS = ["chat", "messaging", "freshdesk", "zipchat"]


async def cards(page: Page) -> dict[str, dict[str, Any]]:
    """Each target card of the demo page as data: state, verdict, decoded parts, rules, error."""
    found: dict[str, dict[str, Any]] = await page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll("article.target")].map((c) => [
            c.dataset.target,
            {
                state: c.dataset.state,
                code: c.dataset.code || null,
                header: c.querySelector(".jwt-header")
                    ? JSON.parse(c.querySelector(".jwt-header").textContent) : null,
                claims: c.querySelector(".jwt-claims")
                    ? JSON.parse(c.querySelector(".jwt-claims").textContent) : null,
                rules: [...c.querySelectorAll(".rules li")]
                    .map((li) => [li.className, li.textContent]),
                error: c.querySelector(".error") ? c.querySelector(".error").textContent : null,
            },
        ]))"""
    )
    return found


async def wait_for_cards(page: Page, state: str) -> dict[str, dict[str, Any]]:
    await page.wait_for_function(
        """([count, state]) => {
            const all = [...document.querySelectorAll("article.target")];
            return all.length === count && all.every((c) => c.dataset.state === state);
        }""",
        arg=[len(TARGETS), state],
    )
    return await cards(page)


async def test_demo_page_signs_in_and_shows_each_targets_token_and_rules(
    make_stage: MakeStage, screenshots: Path
) -> None:
    stage = await make_stage(demo=DEMO)
    page = await stage.open(stage.gateway + "/demo", signed_in=False)
    # before signing in every target answers the readable 401
    before = await wait_for_cards(page, "error")
    assert {c["code"] for c in before.values()} == {"00-00"}
    assert before["chat"]["error"] == "401 00-00: Token not passed"
    assert "Not signed in yet" in await page.inner_text("#signin-status")
    await page.screenshot(path=screenshots / "demo-signed-out.png", full_page=True)

    await page.click("#signin-button")
    after = await wait_for_cards(page, "ok")
    assert list(after) == TARGETS
    for name, card in after.items():
        assert card["rules"], name
        assert all(kind == "pass" for kind, _ in card["rules"]), card["rules"]
        assert card["error"] is None
    assert after["chat"]["claims"]["external_id"] == DEV_SUB
    assert after["chat"]["header"] == {"alg": "HS256", "typ": "JWT"}
    assert after["messaging"]["header"]["kid"] == MESSAGING_KEY_ID
    assert after["messaging"]["claims"]["scope"] == "user"
    assert after["zipchat"]["header"]["alg"] == "RS256"
    assert set(after["freshdesk"]["claims"]) == {"name", "email", "exp"}
    assert "Signed in as Ann Lee" in await page.inner_text("#signin-status")
    # the login cookie is HttpOnly: the page's scripts cannot read it
    assert await page.evaluate("document.cookie") == ""
    assert stage.page_errors == []
    await page.screenshot(path=screenshots / "demo.png", full_page=True)

    await page.click("#signout-button")
    signed_out = await wait_for_cards(page, "error")
    assert {c["code"] for c in signed_out.values()} == {"00-00"}


async def test_demo_sign_in_without_email_shows_which_targets_need_one(
    make_stage: MakeStage,
) -> None:
    stage = await make_stage(demo=DEMO)
    page = await stage.open(stage.gateway + "/demo", signed_in=False)
    await wait_for_cards(page, "error")
    await page.fill("input[name=email]", "")
    await page.click("#signin-button")
    # every card settles: messaging signs, the others show the new 422 (not the earlier 401)
    await page.wait_for_function(
        """() => [...document.querySelectorAll("article.target")].every((c) =>
            c.dataset.target === "messaging"
                ? c.dataset.state === "ok" : c.dataset.code === "00-03")
        """
    )
    shown = await cards(page)
    assert shown["messaging"]["state"] == "ok"
    for name in ("chat", "freshdesk", "zipchat"):
        assert shown[name]["code"] == "00-03", name
        assert shown[name]["error"] == '422 00-03: "email" claim is missed'


async def test_the_demos_login_cookie_works_for_the_shop_on_another_port(
    make_stage: MakeStage,
) -> None:
    stage = await make_stage(demo=DEMO)
    page = await stage.open(stage.gateway + "/demo", signed_in=False)
    await wait_for_cards(page, "error")
    await page.click("#signin-button")
    await wait_for_cards(page, "ok")
    # the same browser, now on the shop's origin: the SameSite=Lax cookie goes along
    await page.goto(stage.shop + "/")
    minted = await page.evaluate(
        'gateway => Bridge.connect({gateway}).token("chat")', stage.gateway
    )
    _, claims = verify_hs256(minted["token"], CHAT_SECRET)
    assert claims["external_id"] == DEV_SUB
    [*_, seen] = stage.token_requests("chat")
    assert (seen.origin, seen.cookie_sent, seen.status) == (stage.shop, True, 200)


# --- the staff page ---------------------------------------------------------------------------


def staff_config(fake: FakeZendesk) -> dict[str, Any]:
    return {
        "staff_page": {"enabled": True},
        "staff": {"api_keys": [{"value": STAFF_KEY}]},
        "zendesk_chat_api": {"base_url": fake.chat_url, "token": {"value": CHAT_TOKEN}},
    }


async def look_up(page: Page, visitor: str, key: str = STAFF_KEY) -> None:
    await page.evaluate('document.getElementById("result").hidden = true')
    await page.fill("#visitor", visitor)
    await page.fill("#key", key)
    await page.click("#lookup-button")
    await page.wait_for_selector("#result:not([hidden])")


async def staff_page(stage: Stage) -> Page:
    return await stage.open(stage.gateway + "/staff", signed_in=False)


async def test_staff_page_shows_a_linked_visitor_then_the_cached_answer(
    make_stage: MakeStage, fake_zendesk: FakeZendesk, screenshots: Path
) -> None:
    stage = await make_stage(**staff_config(fake_zendesk))
    page = await staff_page(stage)
    await look_up(page, LINKED)
    assert await page.inner_text("#visitor-name") == "Player One"
    assert await page.get_attribute("#verdict", "data-linked") == "true"
    assert LOGIN_USER in await page.inner_text("#verdict")
    assert await page.get_attribute("#source", "data-source") == "zendesk"
    facts = await page.inner_text("dl.facts")
    assert "player@example.com" in facts
    assert "2023-11-14T22:13:20Z" in facts  # created 1700000000, shown as a date
    await page.screenshot(path=screenshots / "staff.png", full_page=True)

    await look_up(page, LINKED)
    assert await page.get_attribute("#source", "data-source") == "cache"
    assert fake_zendesk.calls == 1
    # the key went nowhere but the Authorization header
    stored = await page.evaluate(
        "() => [localStorage.length, sessionStorage.length, document.cookie, location.href]"
    )
    assert stored == [0, 0, "", stage.gateway + "/staff"]
    assert stage.page_errors == []


async def test_staff_page_shows_an_unlinked_visitor(
    make_stage: MakeStage, fake_zendesk: FakeZendesk
) -> None:
    stage = await make_stage(**staff_config(fake_zendesk))
    page = await staff_page(stage)
    await look_up(page, ANONYMOUS)
    assert await page.get_attribute("#verdict", "data-linked") == "false"
    assert "Not linked" in await page.inner_text("#verdict")


async def error_shown(page: Page) -> tuple[str | None, str | None, str]:
    return (
        await page.get_attribute("#error", "data-status"),
        await page.get_attribute("#error", "data-code"),
        await page.inner_text("#error"),
    )


async def test_staff_page_explains_401_400_and_404(
    make_stage: MakeStage, fake_zendesk: FakeZendesk, screenshots: Path
) -> None:
    stage = await make_stage(**staff_config(fake_zendesk))
    page = await staff_page(stage)

    await look_up(page, LINKED, key="not-the-staff-key-0123")
    status, code, text = await error_shown(page)
    assert (status, code) == ("401", "staff_unauthorized")
    assert text == "The staff key was not accepted. Check it and try again."
    await page.screenshot(path=screenshots / "staff-401.png", full_page=True)

    await look_up(page, LINKED, key="")
    assert await error_shown(page) == ("401", "staff_unauthorized", "Enter a staff key.")

    await look_up(page, "not a visitor id!")
    status, code, text = await error_shown(page)
    assert (status, code) == ("400", "invalid_id")
    assert "not a Zendesk Chat visitor ID" in text

    await look_up(page, "9855790.nobody")
    assert await error_shown(page) == (
        "404",
        "visitor_not_found",
        "Zendesk Chat has no visitor with this ID.",
    )
    assert fake_zendesk.calls == 1  # 401 and 400 never reached Zendesk


async def test_staff_page_explains_zendesk_trouble(
    make_stage: MakeStage, fake_zendesk: FakeZendesk
) -> None:
    stage = await make_stage(**staff_config(fake_zendesk))
    page = await staff_page(stage)

    fake_zendesk.then(Reply.retry_after("120"))
    await look_up(page, LINKED)
    assert await error_shown(page) == (
        "503",
        "vendor_rate_limited",
        "Zendesk is rate-limiting lookups. Try again in 120 s.",
    )

    fake_zendesk.then(Reply.html(200))
    await look_up(page, LINKED)
    status, code, text = await error_shown(page)
    assert (status, code) == ("502", "vendor_bad_response")
    assert text.startswith("Zendesk gave an answer the gateway cannot use.")

    fake_zendesk.then(Reply(401, json={"error": "invalid_token"}))
    await look_up(page, LINKED)
    status, code, text = await error_shown(page)
    assert (status, code) == ("502", "vendor_auth_failed")
    assert "zendesk_chat_api.token" in text
