"""docs/integration.md's bridge.js snippets, run as they are printed, against stand-in widgets."""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path

import jwt

from tests.browser.conftest import MakeStage
from tests.conftest import CHAT_SECRET, EMAIL, FRESHDESK_SECRET, MESSAGING_SECRET, SUB, config
from tests.support.fake_hubspot import ACCESS_TOKEN as HUBSPOT_TOKEN
from tests.support.fake_hubspot import FakeHubSpot
from tests.support.jwtcheck import verify_hs256

INTERCOM_SECRET = "doc-test-intercom-messenger-secret-012345"
HMAC_SECRETS = {
    "crisp": "doc-test-crisp-secret-0123",
    "helpscout": "doc-test-beacon-secret-0123",
    "front": "doc-test-front-secret-0123",
}

PAGE = Path(__file__).resolve().parents[2] / "docs" / "integration.md"
PAGE_GATEWAY = "https://bridge.example.com"
SECTION = "## The widgets"


def page_snippets() -> list[str]:
    """The ```js blocks of the page's "The widgets" section, in order."""
    text = PAGE.read_text(encoding="utf-8")
    assert SECTION in text, f"{PAGE.name} has no {SECTION!r} section"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```js\n(.*?)```", section, flags=re.DOTALL)


def test_every_js_block_of_the_page_is_run() -> None:
    """No snippet escapes the run by sitting outside the section."""
    text = PAGE.read_text(encoding="utf-8")
    assert len(re.findall(r"```js\n", text)) == len(page_snippets())


def example_targets(hubspot_url: str) -> dict[str, object]:
    """The test configuration's four targets under config.example.yaml's names, and the
    other widgets' under the names the page uses (the helpers' defaults)."""
    targets = config()["targets"]
    return {
        "zendesk-chat": targets["chat"],
        "zendesk-messaging": targets["messaging"],
        "freshdesk": targets["freshdesk"],
        "zipchat": targets["zipchat"],
        "intercom": {"type": "intercom", "secret": {"value": INTERCOM_SECRET}},
        "hubspot": {
            "type": "hubspot",
            "access_token": {"value": HUBSPOT_TOKEN},
            "api_base_url": hubspot_url,
        },
        **{
            vendor: {"type": "hmac_identity", "vendor": vendor, "secret": {"value": secret}}
            for vendor, secret in HMAC_SECRETS.items()
        },
    }


def test_the_page_has_one_snippet_per_widget_api() -> None:
    snippets = page_snippets()
    assert len(snippets) == 10
    for snippet, helper in zip(
        snippets,
        ["zendeskChat", "webWidgetClassic", "zendeskMessaging", "freshdesk", "zipchat",
         "intercom", "hubspot", "crisp", "helpScout", "frontChat"],
        strict=True,
    ):  # fmt: skip
        assert f"bridge.{helper}(" in snippet
    assert f'Bridge.connect({{ gateway: "{PAGE_GATEWAY}" }})' in PAGE.read_text()
    assert f'<script src="{PAGE_GATEWAY}/static/bridge.js"></script>' in PAGE.read_text()


async def test_the_page_snippets_work_as_printed(
    make_stage: MakeStage, fake_hubspot: FakeHubSpot
) -> None:
    targets = example_targets(fake_hubspot.url)
    stage = await make_stage(targets=targets, default_target="zendesk-chat")
    page = await stage.open(stage.shop + "/")
    snippets = [s.replace(PAGE_GATEWAY, stage.gateway) for s in page_snippets()]
    # each snippet runs in the page as a site would put it there, after Bridge.connect
    await page.evaluate(
        """async ([gateway, snippets]) => {
            window.signOut = {};
            for (const snippet of snippets) {
                const body = `return (async () => {${snippet}})()`;
                const run = new Function("bridge", "signOut", body);
                await run(Bridge.connect({gateway}), window.signOut);
            }
        }""",
        [stage.gateway, snippets],
    )
    result = await page.evaluate(
        """async () => {
            const chat = await callWidgetFn(received.zChat[0][1].authentication.jwt_fn);
            const classic = await callWidgetFn(zESettings.webWidget.authenticate.chat.jwtFn);
            const login = received.zE.find((call) => call[1] === "loginUser");
            const messaging = await callWidgetFn(login[2]);
            login[3](null);  // Zendesk: logged in
            await until(() => typeof signOut.onclick === "function");
            signOut.onclick();
            Zipchat.becomeReady();
            await until(() => received.zipchat.length === 1);
            installHubSpot();
            return {
                intercom: received.intercom, hubspot: received.hubspot, crisp: window.$crisp,
                beacon: received.beacon, front: received.front,
                chat, classic, messaging,
                zChat: received.zChat.map((call) => call[0]),
                accountKey: received.zChat[0][1].account_key,
                zE: received.zE.map((call) => call.slice(0, 2)),
                freshdesk: received.freshworks.map((call) => call[0]),
                freshdeskToken: received.freshworks[0][1].token,
            };
        }"""
    )
    assert result["accountKey"] == "YOUR_ACCOUNT_KEY"
    assert result["zChat"] == ["init", "logoutForAll"]
    assert result["zE"] == [
        ["webWidget", "logout"],
        ["messenger", "loginUser"],
        ["messenger", "logoutUser"],
    ]
    assert result["freshdesk"] == ["authenticate", "logout"]
    for token, secret in [
        (result["chat"], CHAT_SECRET),
        (result["classic"], CHAT_SECRET),
        (result["messaging"], MESSAGING_SECRET),
    ]:
        assert verify_hs256(token, secret)[1]["external_id"] == SUB
    assert verify_hs256(result["freshdeskToken"], FRESHDESK_SECRET)[1]["name"]
    [[boot, booted]] = result["intercom"]
    assert boot == "boot"
    assert booted["app_id"] == "YOUR_APP_ID"
    claims = jwt.decode(booted["intercom_user_jwt"], INTERCOM_SECRET, algorithms=["HS256"])
    assert claims["user_id"] == SUB
    [[load, settings]] = result["hubspot"]
    assert (load, settings["identificationToken"]) == ("load", "hs-token-1")
    assert settings["identificationEmail"] == EMAIL

    def signed(vendor: str) -> str:
        return hmac.new(HMAC_SECRETS[vendor].encode(), EMAIL.encode(), hashlib.sha256).hexdigest()

    assert result["crisp"] == [["set", "user:email", [EMAIL, signed("crisp")]]]
    assert result["beacon"] == [
        ["identify", {"email": EMAIL, "signature": signed("helpscout"), "name": "Ann Lee"}]
    ]
    [[init, options]] = result["front"]
    assert (init, options["chatId"], options["userHash"]) == (
        "init", "YOUR_CHAT_ID", signed("front"),
    )  # fmt: skip
    assert {seen.path for seen in stage.token_requests()} == {
        f"/v1/targets/{name}/token"
        for name in ("zendesk-chat", "zendesk-messaging", "freshdesk", "zipchat",
                     "intercom", "hubspot", "crisp", "helpscout", "front")
    }  # fmt: skip
    assert stage.page_errors == []
