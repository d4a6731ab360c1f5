"""bridge.js's helpers for Intercom, HubSpot, Crisp, Help Scout's Beacon and Front Chat, in
Chromium, against stand-ins of the widgets' globals (tests/browser/site/standins.js) that
record what they receive; the credentials are checked with PyJWT and hashlib's HMAC."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import jwt

from tests.browser.conftest import BOTH_BUILDS, MakeStage, Stage
from tests.conftest import EMAIL, SUB, config
from tests.support.fake_hubspot import ACCESS_TOKEN, FakeHubSpot

#: each test runs with the <script> the gateway serves and with the npm package's ES module
pytestmark = BOTH_BUILDS

INTERCOM_SECRET = "browser-test-intercom-messenger-secret-01"
HMAC_SECRETS = {
    "crisp": "browser-test-crisp-secret-0123",
    "helpscout": "browser-test-beacon-secret-0123",
    "front": "browser-test-front-secret-0123",
    "intercom_legacy": "browser-test-intercom-identity-0123",
}


def targets(hubspot_url: str = "http://127.0.0.1:9") -> dict[str, Any]:
    data: dict[str, Any] = config()["targets"]
    data["intercom"] = {"type": "intercom", "secret": {"value": INTERCOM_SECRET}}
    for vendor, secret in HMAC_SECRETS.items():
        data[vendor] = {"type": "hmac_identity", "vendor": vendor, "secret": {"value": secret}}
    data["hubspot"] = {
        "type": "hubspot",
        "access_token": {"value": ACCESS_TOKEN},
        "api_base_url": hubspot_url,
    }
    return data


def hexmac(vendor: str, value: str) -> str:
    return hmac.new(HMAC_SECRETS[vendor].encode(), value.encode(), hashlib.sha256).hexdigest()


async def run(stage: Stage, script: str, **claims: Any) -> Any:
    page = await stage.open(stage.shop + "/", **claims)
    result = await page.evaluate(script, stage.gateway)
    assert stage.page_errors == []
    return result


async def test_intercom_boots_with_the_messenger_jwt_and_renews_it_before_exp(
    make_stage: MakeStage,
) -> None:
    stage = await make_stage(targets=targets())
    result = await run(
        stage,
        """async (gateway) => {
            const bridge = Bridge.connect({gateway});
            // a 3600 s token renewed 3599 s before it expires: about one second from now
            const handle = await bridge.intercom({
                appId: "abc123", boot: {hide_default_launcher: true},
                renewBeforeSeconds: 3599, minRenewSeconds: 1,
            });
            await until(() => received.intercom.length >= 2);
            handle.logout();
            return received.intercom;
        }""",
    )
    (boot, settings), (update, renewed), (shutdown,) = result[:3]
    assert (boot, update, shutdown) == ("boot", "update", "shutdown")
    assert settings["app_id"] == "abc123"
    assert settings["hide_default_launcher"] is True
    for token in (settings["intercom_user_jwt"], renewed["intercom_user_jwt"]):
        claims = jwt.decode(token, INTERCOM_SECRET, algorithms=["HS256"])
        assert (claims["user_id"], claims["email"]) == (SUB, EMAIL)
    assert "user_hash" not in settings
    assert len(stage.token_requests("intercom")) == 2


async def test_intercom_legacy_boots_with_user_id_and_user_hash(make_stage: MakeStage) -> None:
    stage = await make_stage(targets=targets())
    [[call, settings]] = await run(
        stage,
        """async (gateway) => {
            await Bridge.connect({gateway}).intercom({target: "intercom_legacy", appId: "abc123"});
            return received.intercom;
        }""",
    )
    assert call == "boot"
    assert settings == {
        "app_id": "abc123",
        "user_id": SUB,
        "user_hash": hexmac("intercom_legacy", SUB),
    }


async def test_intercom_boots_the_messenger_that_replaced_the_loader_stub(
    make_stage: MakeStage,
) -> None:
    # Intercom's script swaps the loader's stub for the Messenger when it arrives, which may
    # be while the token is on its way: the boot must reach the Messenger, not the old stub
    stage = await make_stage(targets=targets())
    result = await run(
        stage,
        """async (gateway) => {
            const stub = window.Intercom;
            const stubCalls = [], messengerCalls = [];
            window.Intercom = (...args) => stubCalls.push(args);
            const booted = Bridge.connect({gateway}).intercom({appId: "abc123"});
            window.Intercom = (...args) => messengerCalls.push(args);
            const handle = await booted;
            handle.logout();
            window.Intercom = stub;
            return {stub: stubCalls, messenger: messengerCalls};
        }""",
    )
    assert result["stub"] == []
    assert [call[0] for call in result["messenger"]] == ["boot", "shutdown"]
    claims = jwt.decode(
        result["messenger"][0][1]["intercom_user_jwt"], INTERCOM_SECRET, algorithms=["HS256"]
    )
    assert claims["user_id"] == SUB


async def test_crisp_gets_the_email_and_its_signature(make_stage: MakeStage) -> None:
    stage = await make_stage(targets=targets())
    result = await run(
        stage,
        """async (gateway) => {
            const handle = await Bridge.connect({gateway}).crisp({target: "crisp"});
            handle.logout();
            return window.$crisp;
        }""",
    )
    assert result == [
        ["set", "user:email", [EMAIL, hexmac("crisp", EMAIL)]],
        ["do", "session:reset"],
    ]


async def test_beacon_identifies_with_the_email_and_its_signature(make_stage: MakeStage) -> None:
    stage = await make_stage(targets=targets())
    result = await run(
        stage,
        """async (gateway) => {
            const handle = await Bridge.connect({gateway}).helpScout({name: "Ann Lee"});
            handle.logout();
            return received.beacon;
        }""",
    )
    assert result == [
        ["identify", {"email": EMAIL, "signature": hexmac("helpscout", EMAIL), "name": "Ann Lee"}],
        ["logout", {"endActiveChat": True}],
    ]


async def test_front_chat_inits_with_the_email_and_its_user_hash(make_stage: MakeStage) -> None:
    stage = await make_stage(targets=targets())
    result = await run(
        stage,
        """async (gateway) => {
            const handle = await Bridge.connect({gateway}).frontChat({chatId: "chat-42"});
            handle.logout();
            return received.front;
        }""",
    )
    assert result == [
        ["init", {"useDefaultLauncher": True, "chatId": "chat-42", "email": EMAIL,
                  "userHash": hexmac("front", EMAIL)}],
        ["shutdown", {"clearSession": True}],
    ]  # fmt: skip


async def test_an_hmac_helper_without_an_email_is_a_readable_422(make_stage: MakeStage) -> None:
    stage = await make_stage(targets=targets())
    result = await run(
        stage,
        """async (gateway) => {
            try { await Bridge.connect({gateway}).crisp(); return null; }
            catch (err) { return {error: asData(err), queued: window.$crisp}; }
        }""",
        email=None,
    )
    assert (result["error"]["status"], result["error"]["code"]) == (422, "00-03")
    assert result["queued"] == []  # nothing unverified was handed to Crisp


async def test_hubspot_sets_the_identification_then_loads_the_widget(
    make_stage: MakeStage, fake_hubspot: FakeHubSpot
) -> None:
    stage = await make_stage(targets=targets(fake_hubspot.url))
    result = await run(
        stage,
        """async (gateway) => {
            window.hsConversationsSettings = {loadImmediately: false};
            const bridge = Bridge.connect({gateway});
            const handle = await bridge.hubspot();
            const before = received.hubspot.length;  // HubSpot's script has not started
            installHubSpot();                         // now it has: hsConversationsOnReady runs
            await bridge.hubspot();                   // a second call refreshes, same token
            handle.logout();
            return {before, calls: received.hubspot, email: handle.email};
        }""",
    )
    assert result["before"] == 0
    (load, loaded), (refresh, refreshed), (clear, cleared, options) = result["calls"]
    assert (load, refresh, clear) == ("load", "refresh", "clear")
    assert loaded == {
        "loadImmediately": False,
        "identificationEmail": EMAIL,
        "identificationToken": "hs-token-1",
    }
    assert refreshed == loaded
    assert cleared == {"loadImmediately": False}
    assert options == {"resetWidget": True}
    assert result["email"] == EMAIL
    assert fake_hubspot.calls == 1  # the second page call reused HubSpot's token


async def test_the_demo_page_has_a_passing_card_for_each_new_target(
    make_stage: MakeStage, fake_hubspot: FakeHubSpot
) -> None:
    from tests.browser.test_pages import DEMO, DEV_SUB, cards

    stage = await make_stage(demo=DEMO, targets=targets(fake_hubspot.url))
    page = await stage.open(stage.gateway + "/demo", signed_in=False)
    await page.click("#signin-button")
    await page.wait_for_function(
        """() => {
            const all = [...document.querySelectorAll("article.target")];
            return all.length === 10 && all.every((c) => c.dataset.state === "ok");
        }"""
    )
    shown = await cards(page)
    for name in ("intercom", "crisp", "helpscout", "front", "intercom_legacy", "hubspot"):
        assert shown[name]["rules"], name
        assert all(kind == "pass" for kind, _ in shown[name]["rules"]), shown[name]["rules"]
    assert shown["intercom"]["header"] == {"alg": "HS256", "typ": "JWT"}
    assert shown["intercom"]["claims"]["user_id"] == DEV_SUB
    email = shown["crisp"]["claims"]["identifier"]
    assert shown["crisp"]["claims"]["token"] == hexmac("crisp", email)
    assert shown["crisp"]["claims"]["expires_at"] is None
    assert shown["intercom_legacy"]["claims"]["identifier"] == DEV_SUB
    assert shown["hubspot"]["claims"]["token"] == "hs-token-1"
    assert shown["hubspot"]["claims"]["email"] == email
    assert stage.page_errors == []
