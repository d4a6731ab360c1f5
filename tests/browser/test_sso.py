"""Zendesk help center single sign-on in Chromium: from a signed-in page to the fake help
center and back to ``return_to``, with and without scripts, and through the site's login.

The fake help center (``bridge/dev/help_center.py``) is on ``127.0.0.1``, another site
than the gateway and the shop on ``localhost``, as Zendesk is: the login cookie reaches the
gateway on Zendesk's top-level redirect, and the form is a cross-site POST. The fake verifies
each token with PyJWT; the test checks that no token travelled in a URL or a ``Location``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from playwright.async_api import BrowserContext, Page, Request, Response
from pytest_aiohttp import AiohttpServer

from bridge.dev.help_center import SSO_SECRET as DEV_SSO_SECRET
from tests.browser.conftest import MakeStage, Stage
from tests.browser.test_pages import DEMO
from tests.conftest import EMAIL, SUB, config, login_token
from tests.support.fake_help_center import SSO_SECRET, FakeHelpCenter

ARTICLE = "/hc/en-us/articles/360001-returns"


@dataclass
class Traffic:
    """Every URL the browser asked for and every ``Location`` it was given."""

    urls: list[str] = field(default_factory=list)
    locations: list[str] = field(default_factory=list)

    def watch(self, context: BrowserContext) -> None:
        context.on("request", lambda request: self._request(request))
        context.on("response", lambda response: self._response(response))

    def _request(self, request: Request) -> None:
        self.urls.append(request.url)

    def _response(self, response: Response) -> None:
        location = response.headers.get("location")
        if location is not None:
            self.locations.append(location)

    def assert_no_token(self, fake: FakeHelpCenter) -> None:
        """No token the fake received, nor anything JWT-like, is in a URL or a Location."""
        assert fake.arrivals
        seen = self.urls + self.locations + fake.urls
        for arrival in fake.arrivals:
            signature = arrival.token.rsplit(".", 1)[1]
            assert not any(signature in text or arrival.token in text for text in seen)
        assert not any("eyJ" in text for text in seen)


async def sso_stage(
    make_stage: MakeStage, fake: FakeHelpCenter, **upstream: Any
) -> tuple[Stage, str]:
    """The stage with a ``help`` target for the fake; the fake's remote login URL set."""
    targets = config()["targets"]
    targets["help"] = {"type": "zendesk_sso", "base_url": fake.url, "secret": {"value": SSO_SECRET}}
    overrides: dict[str, Any] = {"targets": targets}
    if upstream:
        overrides["upstream"] = {**config()["upstream"], **upstream}
    stage = await make_stage(**overrides)
    fake.remote_login_url = f"{stage.gateway}/v1/sso/help"
    return stage, fake.url + ARTICLE


async def follow_help_link(page: Page, url: str) -> None:
    """Click a link to the help center, as a visitor of the page would."""
    await page.evaluate(
        """(url) => {
            const link = Object.assign(document.createElement("a"), {href: url, id: "help"});
            link.textContent = "Help center";
            document.body.append(link);
        }""",
        url,
    )
    await page.click("#help")


async def signed_in_as(page: Page, return_to: str) -> dict[str, str]:
    await page.wait_for_url(return_to)
    return {
        "who": await page.inner_text("#who"),
        "email": await page.inner_text("#email"),
        "external_id": await page.inner_text("#external-id"),
        "jti": await page.inner_text("#jti"),
    }


async def test_a_signed_in_visitor_reaches_the_help_center_twice_with_two_jtis(
    make_stage: MakeStage, fake_help_center: FakeHelpCenter
) -> None:
    fake = fake_help_center
    stage, return_to = await sso_stage(make_stage, fake)
    traffic = Traffic()
    arrived = []
    for _ in range(2):  # two browser profiles: the help center's session starts empty each time
        page = await stage.open(stage.shop + "/", name="Ann Lee")
        traffic.watch(page.context)
        await follow_help_link(page, return_to)
        arrived.append(await signed_in_as(page, return_to))
        await page.context.close()
    assert [a["who"] for a in arrived] == ["Signed in as Ann Lee"] * 2
    assert {(a["email"], a["external_id"]) for a in arrived} == {(EMAIL, SUB)}
    assert arrived[0]["jti"] != arrived[1]["jti"]
    assert [arrival.return_to for arrival in fake.arrivals] == [return_to, return_to]
    assert fake.refusals == []
    assert stage.page_errors == []
    sso_answers = [seen for seen in stage.requests if seen.path == "/v1/sso/help"]
    assert [(seen.status, seen.cookie_sent) for seen in sso_answers] == [(200, True)] * 2
    assert [arrival.claims["jti"] for arrival in fake.arrivals] == [a["jti"] for a in arrived]
    traffic.assert_no_token(fake)


async def test_with_scripts_off_the_button_posts_the_form(
    make_stage: MakeStage, fake_help_center: FakeHelpCenter
) -> None:
    fake = fake_help_center
    stage, return_to = await sso_stage(make_stage, fake)
    assert stage.browser is not None
    context = await stage.browser.new_context(java_script_enabled=False)
    context.set_default_timeout(15_000)
    await context.add_cookies(
        [{"name": "token", "value": login_token(), "domain": "localhost", "path": "/",
          "httpOnly": True, "sameSite": "Lax"}]
    )  # fmt: skip
    traffic = Traffic()
    traffic.watch(context)
    page = await context.new_page()
    await page.goto(return_to)  # not signed in there: Zendesk sends the visitor to the gateway
    assert page.url.startswith(f"{stage.gateway}/v1/sso/help?return_to=")
    button = page.get_by_role("button", name="Continue to the help center")
    await button.wait_for()
    assert fake.arrivals == []  # nothing was sent without the visitor
    await button.click()
    arrived = await signed_in_as(page, return_to)
    assert arrived["external_id"] == SUB
    (arrival,) = fake.arrivals
    assert arrival.header == {"alg": "HS256", "typ": "JWT"}
    traffic.assert_no_token(fake)
    await context.close()


async def test_a_visitor_without_a_login_goes_through_the_sites_login_page_and_back(
    make_stage: MakeStage, fake_help_center: FakeHelpCenter, aiohttp_server: AiohttpServer
) -> None:
    fake = fake_help_center
    logins: list[str] = []

    async def login_page(request: web.Request) -> web.Response:
        """The site's login: signs the visitor in and sends them on to ``next``."""
        next_url = request.query["next"]
        logins.append(next_url)
        response = web.Response(status=302, headers={"Location": next_url})
        response.set_cookie("token", login_token(), path="/", httponly=True, samesite="Lax")
        return response

    site = web.Application()
    site.router.add_get("/login", login_page)
    server = await aiohttp_server(site)
    login_url = f"http://localhost:{server.port}/login?next={{return}}"
    stage, return_to = await sso_stage(make_stage, fake, login_url=login_url)
    page = await stage.open(stage.shop + "/", signed_in=False)
    traffic = Traffic()
    traffic.watch(page.context)
    await follow_help_link(page, return_to)
    arrived = await signed_in_as(page, return_to)
    assert arrived["email"] == EMAIL
    (went_back_to,) = logins
    assert went_back_to.startswith(f"{stage.gateway}/v1/sso/help?return_to=")
    statuses = [seen.status for seen in stage.requests if seen.path == "/v1/sso/help"]
    assert statuses == [302, 200]
    traffic.assert_no_token(fake)


async def test_the_demo_signs_the_development_user_in_to_the_stand_in_help_center(
    make_stage: MakeStage, aiohttp_server: AiohttpServer, screenshots: Path
) -> None:
    stand_in = await aiohttp_server(FakeHelpCenter().app(), host="127.0.0.1")
    help_center = f"http://127.0.0.1:{stand_in.port}"
    targets = config()["targets"]
    targets["help"] = {
        "type": "zendesk_sso",
        "base_url": help_center,
        "secret": {"value": DEV_SSO_SECRET},
    }
    stage = await make_stage(targets=targets, demo=DEMO)
    page = await stage.open(stage.gateway + "/demo", signed_in=False)
    await page.click("#signin-button")
    await page.wait_for_selector('article.target[data-target="chat"][data-state="ok"]')
    card = page.locator('article.target[data-target="help"]')
    assert await card.get_attribute("data-state") == "sso"
    await card.get_by_role("link", name="Sign in to the help center").click()
    await page.wait_for_url(help_center + "/")  # no return_to: the help center's home
    assert await page.inner_text("#who") == "Signed in as Ann Lee"
    claims = await page.inner_text("#claims")
    assert "external_id\t82cd5e0c-c3ff-11e9-b199-c1e5fc81c37f" in claims
    await page.screenshot(path=str(screenshots / "help-center-sso.png"))
    assert stage.page_errors == []
