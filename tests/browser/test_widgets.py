"""bridge.js in Chromium: a shop on one localhost port, the gateway on another.

Each widget helper runs against a stand-in widget object (tests/browser/site/standins.js) that
records what it receives; the test then plays the widget's part (calling jwt_fn, Freshdesk's
callback, firing zipchat:ready-to-identify) and checks the tokens with the test's own secrets.
"""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page

from tests.browser.conftest import BOTH_BUILDS, MakeStage, Stage
from tests.conftest import (
    CHAT_SECRET,
    EMAIL,
    FRESHDESK_SECRET,
    MESSAGING_KEY_ID,
    MESSAGING_SECRET,
    SUB,
    zipchat_private_key,
)
from tests.support.jwtcheck import verify_hs256, verify_rs256

#: each test runs with the <script> the gateway serves and with the npm package's ES module
pytestmark = BOTH_BUILDS


async def run(page: Page, script: str, stage: Stage) -> Any:
    """Evaluate ``script`` (a JS function of the gateway's URL) in the page."""
    return await page.evaluate(script, stage.gateway)


async def token_error(page: Page, stage: Stage, target: str) -> dict[str, Any]:
    error: dict[str, Any] = await page.evaluate(
        """async ([gateway, target]) => {
            try { await Bridge.connect({gateway}).token(target); return null; }
            catch (err) { return asData(err); }
        }""",
        [stage.gateway, target],
    )
    assert error is not None, "the token request should have failed"
    return error


async def test_listed_origin_gets_a_token_with_the_login_cookie_sent(
    make_stage: MakeStage,
) -> None:
    stage = await make_stage()
    page = await stage.open(stage.shop + "/")
    minted = await run(page, 'gateway => Bridge.connect({gateway}).token("chat")', stage)
    _, claims = verify_hs256(minted["token"], CHAT_SECRET)
    assert claims["external_id"] == SUB
    assert claims["email"] == EMAIL
    assert minted["target"] == "chat"
    assert minted["expiresAt"] == claims["exp"]
    [seen] = stage.token_requests("chat")
    assert seen.origin == stage.shop  # a cross-origin request...
    assert seen.cookie_sent  # ...that carried the SameSite=Lax login cookie
    assert seen.allow_origin == stage.shop
    assert stage.page_errors == []


async def test_unlisted_origin_cannot_read_the_token(make_stage: MakeStage) -> None:
    stage = await make_stage()
    page = await stage.open(stage.stranger + "/")
    error = await token_error(page, stage, "chat")
    assert error["isBridgeError"]
    assert error["code"] == "network_error"
    assert "cors.origins" in error["description"]
    assert error["status"] is None
    # the browser did send it (same site), but the answer had no Access-Control-Allow-Origin,
    # so the page never saw the token
    [seen] = stage.token_requests("chat")
    assert seen.origin == stage.stranger
    assert seen.allow_origin is None


async def test_no_login_cookie_is_a_readable_401(make_stage: MakeStage) -> None:
    stage = await make_stage()
    page = await stage.open(stage.shop + "/", signed_in=False)
    error = await token_error(page, stage, "chat")
    assert error["isBridgeError"]
    assert (error["status"], error["code"]) == (401, "00-00")
    assert error["description"] == "Token not passed"
    assert error["message"] == "401 00-00: Token not passed"


async def test_expired_login_cookie_is_a_readable_401(make_stage: MakeStage) -> None:
    stage = await make_stage()
    page = await stage.open(stage.shop + "/", ttl=-3600)
    error = await token_error(page, stage, "chat")
    assert (error["status"], error["code"], error["description"]) == (
        401,
        "00-01",
        "Token is invalid",
    )


async def test_login_without_email_is_a_readable_422_for_zendesk_chat(
    make_stage: MakeStage,
) -> None:
    stage = await make_stage()
    page = await stage.open(stage.shop + "/", email=None)
    error = await token_error(page, stage, "chat")
    assert (error["status"], error["code"]) == (422, "00-03")
    assert error["description"] == '"email" claim is missed'


async def test_unknown_target_is_a_readable_404(make_stage: MakeStage) -> None:
    stage = await make_stage()
    page = await stage.open(stage.shop + "/")
    error = await token_error(page, stage, "no-such-target")
    assert (error["status"], error["code"]) == (404, "target_not_found")


async def test_zendesk_chat_sdk_gets_a_fresh_token_on_every_jwt_fn_call(
    make_stage: MakeStage,
) -> None:
    stage = await make_stage()
    page = await stage.open(stage.shop + "/")
    result = await run(
        page,
        """async (gateway) => {
            const bridge = Bridge.connect({gateway});
            const handle = bridge.zendeskChat({target: "chat", accountKey: "ACCOUNT-KEY-42"});
            const [, options] = received.zChat[0];
            const first = await callWidgetFn(options.authentication.jwt_fn);
            const second = await callWidgetFn(options.authentication.jwt_fn);
            handle.logout();
            return {
                accountKey: options.account_key,
                first, second,
                calls: received.zChat.map((call) => call[0]),
            };
        }""",
        stage,
    )
    assert result["accountKey"] == "ACCOUNT-KEY-42"
    for token in (result["first"], result["second"]):
        _, claims = verify_hs256(token, CHAT_SECRET)
        assert claims["external_id"] == SUB
        assert claims["exp"] - claims["iat"] <= 420
    assert len(stage.token_requests("chat")) == 2  # Zendesk asked twice: signed twice
    assert result["calls"] == ["init", "logoutForAll"]


async def test_zendesk_chat_jwt_fn_reports_gateway_errors_to_on_error(
    make_stage: MakeStage,
) -> None:
    stage = await make_stage()
    page = await stage.open(stage.shop + "/", signed_in=False)
    result = await run(
        page,
        """async (gateway) => {
            const onError = (e) => received.errors.push(asData(e));
            const bridge = Bridge.connect({gateway, onError});
            bridge.zendeskChat({target: "chat", accountKey: "ACCOUNT-KEY-42"});
            let calledBack = false;
            received.zChat[0][1].authentication.jwt_fn(() => { calledBack = true; });
            await until(() => received.errors.length > 0);
            return {errors: received.errors, calledBack};
        }""",
        stage,
    )
    [error] = result["errors"]
    assert (error["status"], error["code"]) == (401, "00-00")
    assert result["calledBack"] is False  # no token was handed to the widget


async def test_web_widget_classic_gets_a_chat_jwt_fn_and_keeps_other_settings(
    make_stage: MakeStage,
) -> None:
    stage = await make_stage()
    page = await stage.open(stage.shop + "/")
    result = await run(
        page,
        """async (gateway) => {
            window.zESettings = {webWidget: {color: {theme: "#2456d6"}}};
            const handle = Bridge.connect({gateway}).webWidgetClassic({target: "chat"});
            const jwt = await callWidgetFn(zESettings.webWidget.authenticate.chat.jwtFn);
            handle.logout();
            return {theme: zESettings.webWidget.color.theme, jwt, zE: received.zE};
        }""",
        stage,
    )
    assert result["theme"] == "#2456d6"
    _, claims = verify_hs256(result["jwt"], CHAT_SECRET)
    assert claims["external_id"] == SUB
    assert result["zE"] == [["webWidget", "logout"]]


async def test_zendesk_messaging_logs_in_with_a_kid_token_and_logs_out(
    make_stage: MakeStage,
) -> None:
    stage = await make_stage()
    page = await stage.open(stage.shop + "/")
    result = await run(
        page,
        """async (gateway) => {
            const login = Bridge.connect({gateway}).zendeskMessaging({target: "messaging"});
            const [widget, method, jwtCallback, loginCallback] = received.zE[0];
            const jwt = await callWidgetFn(jwtCallback);
            const renewed = await callWidgetFn(jwtCallback);  // the session wants a new one
            loginCallback(null);
            const handle = await login;
            handle.logout();
            return {call: [widget, method], jwt, renewed, last: received.zE[1]};
        }""",
        stage,
    )
    assert result["call"] == ["messenger", "loginUser"]
    for token in (result["jwt"], result["renewed"]):
        header, claims = verify_hs256(token, MESSAGING_SECRET)
        assert header["kid"] == MESSAGING_KEY_ID
        assert claims["scope"] == "user"
        assert claims["external_id"] == SUB
    assert len(stage.token_requests("messaging")) == 2
    assert result["last"] == ["messenger", "logoutUser"]


async def test_zendesk_messaging_surfaces_the_login_callbacks_error(
    make_stage: MakeStage,
) -> None:
    stage = await make_stage()
    page = await stage.open(stage.shop + "/")
    error = await run(
        page,
        """async (gateway) => {
            const login = Bridge.connect({gateway}).zendeskMessaging({target: "messaging"});
            const [, , jwtCallback, loginCallback] = received.zE[0];
            await callWidgetFn(jwtCallback);
            loginCallback({type: "LoginFailedError", reason: "conflict",
                           message: "external_id belongs to another user (409)"});
            try { await login; return null; } catch (err) { return asData(err); }
        }""",
        stage,
    )
    assert error["isBridgeError"]
    assert error["code"] == "login_failed"
    assert "external_id belongs to another user (409)" in error["message"]
    assert "already has a different external_id (409 conflict)" in error["message"]
    assert error["details"] == {
        "type": "LoginFailedError",
        "reason": "conflict",
        "message": "external_id belongs to another user (409)",
        "conflict": True,
    }


async def test_zendesk_messaging_reports_another_login_error_without_a_conflict(
    make_stage: MakeStage,
) -> None:
    stage = await make_stage()
    page = await stage.open(stage.shop + "/")
    error = await run(
        page,
        """async (gateway) => {
            const login = Bridge.connect({gateway}).zendeskMessaging({target: "messaging"});
            const [, , jwtCallback, loginCallback] = received.zE[0];
            await callWidgetFn(jwtCallback);
            loginCallback({type: "LoginFailedError", reason: "invalid_jwt",
                           message: "The JWT signature is invalid"});
            try { await login; return null; } catch (err) { return asData(err); }
        }""",
        stage,
    )
    assert error["code"] == "login_failed"
    assert error["message"] == (
        "login_failed: Zendesk Messaging refused the login: The JWT signature is invalid"
    )
    assert error["details"]["conflict"] is False


async def test_zendesk_messaging_rejects_with_the_gateways_error(make_stage: MakeStage) -> None:
    stage = await make_stage()
    page = await stage.open(stage.shop + "/", signed_in=False)
    error = await run(
        page,
        """async (gateway) => {
            const login = Bridge.connect({gateway}).zendeskMessaging({target: "messaging"});
            let calledBack = false;
            received.zE[0][2](() => { calledBack = true; });
            try { await login; return null; }
            catch (err) { return {...asData(err), calledBack}; }
        }""",
        stage,
    )
    assert (error["status"], error["code"]) == (401, "00-00")
    assert error["calledBack"] is False


async def test_freshdesk_authenticates_and_its_callback_renews(make_stage: MakeStage) -> None:
    stage = await make_stage()
    page = await stage.open(stage.shop + "/")
    result = await run(
        page,
        """async (gateway) => {
            const handle = await Bridge.connect({gateway}).freshdesk({target: "freshdesk"});
            const [command, first] = received.freshworks[0];
            first.callback();  // what Freshdesk does when the token expires
            await until(() => received.freshworks.length === 2);
            const [again, second] = received.freshworks[1];
            handle.logout();
            return {
                commands: [command, again], first: first.token, second: second.token,
                callbacks: [typeof first.callback, typeof second.callback],
                last: received.freshworks[2],
            };
        }""",
        stage,
    )
    assert result["commands"] == ["authenticate", "authenticate"]
    assert result["callbacks"] == ["function", "function"]
    for token in (result["first"], result["second"]):
        _, claims = verify_hs256(token, FRESHDESK_SECRET)
        assert claims["email"] == EMAIL
        assert set(claims) == {"name", "email", "exp"}
    assert len(stage.token_requests("freshdesk")) == 2  # the renewal fetched a new token
    assert result["last"] == ["logout"]


async def test_freshdesk_renews_before_expiry_until_logout(make_stage: MakeStage) -> None:
    stage = await make_stage()
    page = await stage.open(stage.shop + "/")
    result = await run(
        page,
        """async (gateway) => {
            // a 3600 s token renewed 3599 s before it expires: about one second from now
            const handle = await Bridge.connect({gateway}).freshdesk(
                {target: "freshdesk", renewBeforeSeconds: 3599, minRenewSeconds: 1});
            await until(() => received.freshworks.length === 2, 10000);
            handle.logout();
            const atLogout = received.freshworks.length;
            await new Promise((resolve) => setTimeout(resolve, 2500));  // two more periods
            return {
                commands: received.freshworks.map((call) => call[0]),
                atLogout,
            };
        }""",
        stage,
    )
    assert result["commands"][:2] == ["authenticate", "authenticate"]
    # nothing after the logout: the renewal timer was stopped
    assert result["commands"][result["atLogout"] :] == []
    assert result["commands"][-1] == "logout"
    assert len(stage.token_requests("freshdesk")) == 2


async def test_zipchat_identifies_only_after_ready_to_identify(make_stage: MakeStage) -> None:
    stage = await make_stage()
    page = await stage.open(stage.shop + "/")
    before = await run(
        page,
        """async (gateway) => {
            window.identified = Bridge.connect({gateway}).zipchat({target: "zipchat"});
            await new Promise((resolve) => setTimeout(resolve, 200));
            return received.zipchat.length;
        }""",
        stage,
    )
    assert before == 0
    assert stage.token_requests("zipchat") == []  # it did not even ask for a token yet
    tokens = await page.evaluate(
        """async () => {
            Zipchat.becomeReady();  // dispatches zipchat:ready-to-identify
            await window.identified;
            return received.zipchat;
        }"""
    )
    [token] = tokens
    header, claims = verify_rs256(token, zipchat_private_key().public_key())
    assert header["alg"] == "RS256"
    assert claims["email"] == EMAIL
    assert claims["exp"] - claims["iat"] <= 3600
    assert stage.page_errors == []


async def test_zipchat_identifies_at_once_when_already_ready_and_again_on_each_event(
    make_stage: MakeStage,
) -> None:
    stage = await make_stage()
    page = await stage.open(stage.shop + "/")
    count = await run(
        page,
        """async (gateway) => {
            Zipchat.becomeReady();  // the event fired before bridge.js was asked
            const handle = await Bridge.connect({gateway}).zipchat({target: "zipchat"});
            const first = received.zipchat.length;
            window.dispatchEvent(new Event("zipchat:ready-to-identify"));  // a new conversation
            await until(() => received.zipchat.length === 2);
            handle.stop();
            return first;
        }""",
        stage,
    )
    assert count == 1
    assert len(stage.token_requests("zipchat")) == 2


async def test_zipchat_rejects_with_the_gateways_error(make_stage: MakeStage) -> None:
    stage = await make_stage()
    page = await stage.open(stage.shop + "/", email=None)
    error = await run(
        page,
        """async (gateway) => {
            Zipchat.becomeReady();
            try { await Bridge.connect({gateway}).zipchat({target: "zipchat"}); return null; }
            catch (err) { return asData(err); }
        }""",
        stage,
    )
    assert (error["status"], error["code"]) == (422, "00-03")
