"""Zendesk JWT single sign-on through HTTP: the remote login and logout URLs."""

from __future__ import annotations

import io
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

import aiohttp
import jwt
import pytest
from yarl import URL

from bridge.settings.loading import parse_settings
from bridge.settings.root import Settings
from tests.conftest import EMAIL, SUB, AppClient, ClientFactory, Lines, config, login_token
from tests.support.fake_help_center import SSO_SECRET, FakeHelpCenter
from tests.support.jwtcheck import verify_hs256
from tests.unit.targets.test_hostile_return_to import CASES

BASE = "https://acme.zendesk.com"
RETURN_TO = "https://acme.zendesk.com/hc/en-us/articles/360001"
LOGIN_URL = "https://acme.example.com/login?next={return}"


def sso_settings(
    target: dict[str, Any] | None = None, *, login_url: str | None = None, **overrides: Any
) -> Settings:
    """The shared test configuration plus a ``zendesk_sso`` target named ``help``."""
    raw = config(**overrides)
    raw["targets"]["help"] = {
        "type": "zendesk_sso",
        "base_url": BASE,
        "secret": {"value": SSO_SECRET},
        "return_to_hosts": ["acme.zendesk.com", "help.acme.com"],
        **(target or {}),
    }
    if login_url is not None:
        raw["upstream"]["login_url"] = login_url
    return parse_settings(raw, environ={})


def cookie(token: str | None = None) -> dict[str, str]:
    return {"Cookie": f"token={token or login_token()}"}


class Form(HTMLParser):
    """The sign-in page's form: its action, method and fields."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, str]] = []
        self.fields: dict[str, str] = {}
        self.scripts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(values)
        elif tag == "input":
            self.fields[values["name"]] = values["value"]
        elif tag == "script":
            self.scripts.append(values.get("src", "<inline>"))


def form_of(text: str) -> Form:
    parser = Form()
    parser.feed(text)
    return parser


@pytest.fixture
async def sso(make_client: ClientFactory) -> AppClient:
    return await make_client(sso_settings())


async def test_signed_in_visitor_gets_a_self_submitting_form_to_access_jwt(sso: AppClient) -> None:
    response = await sso.get("/v1/sso/help", params={"return_to": RETURN_TO}, headers=cookie())
    assert response.status == 200
    assert response.content_type == "text/html"
    form = form_of(await response.text())
    assert form.forms == [{"id": "bridge-sso", "method": "post", "action": f"{BASE}/access/jwt"}]
    assert set(form.fields) == {"jwt", "return_to"}
    assert form.fields["return_to"] == RETURN_TO
    assert form.scripts == ["/static/sso.js"]  # no inline script
    header, claims = verify_hs256(form.fields["jwt"], SSO_SECRET)
    assert header == {"alg": "HS256", "typ": "JWT"}
    assert set(claims) == {"iat", "jti", "name", "email", "external_id"}
    assert (claims["email"], claims["external_id"]) == (EMAIL, SUB)


async def test_the_page_is_not_stored_refers_nothing_and_posts_only_to_zendesk(
    sso: AppClient,
) -> None:
    response = await sso.get("/v1/sso/help", params={"return_to": RETURN_TO}, headers=cookie())
    headers = response.headers
    assert headers["Cache-Control"] == "no-store"
    assert headers["Referrer-Policy"] == "no-referrer"
    directives = dict(
        d.strip().split(" ", 1) for d in headers["Content-Security-Policy"].split(";")
    )
    assert directives["form-action"] == BASE
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["default-src"] == "'none'"


async def test_every_call_mints_a_new_jti(sso: AppClient) -> None:
    jtis = set()
    for _ in range(5):
        response = await sso.get("/v1/sso/help", params={"return_to": RETURN_TO}, headers=cookie())
        jtis.add(verify_hs256(form_of(await response.text()).fields["jwt"], SSO_SECRET)[1]["jti"])
    assert len(jtis) == 5


async def test_html_in_return_to_is_escaped_in_the_form(sso: AppClient) -> None:
    value = 'https://acme.zendesk.com/hc?q="><script>alert(1)</script>'
    response = await sso.get("/v1/sso/help", params={"return_to": value}, headers=cookie())
    assert response.status == 400  # < > " are not URL characters: refused before any page
    value = "https://acme.zendesk.com/hc?a=1&b='x'"
    response = await sso.get("/v1/sso/help", params={"return_to": value}, headers=cookie())
    text = await response.text()
    assert "&amp;b=&#x27;x&#x27;" in text
    assert form_of(text).fields["return_to"] == value


async def test_a_host_mapped_brand_is_an_allowed_return_to(sso: AppClient) -> None:
    brand = "https://help.acme.com/hc/en-us"
    response = await sso.get("/v1/sso/help", params={"return_to": brand}, headers=cookie())
    assert response.status == 200
    assert form_of(await response.text()).fields["return_to"] == brand


async def test_without_return_to_the_help_centers_home_is_used(sso: AppClient) -> None:
    response = await sso.get("/v1/sso/help", headers=cookie())
    assert form_of(await response.text()).fields["return_to"] == BASE + "/"


async def test_every_hostile_return_to_is_400_bad_return_to(sso: AppClient) -> None:
    for case in CASES:
        for path in ("/v1/sso/help", "/v1/sso/help/logout"):
            url = URL(path).with_query({"return_to": case.value})
            response = await sso.get(url, headers=cookie(), allow_redirects=False)
            assert response.status == 400, case.id
            body = await response.json()
            assert body["code"] == "bad_return_to", case.id
            assert "Location" not in response.headers


async def test_two_return_to_parameters_are_400(sso: AppClient) -> None:
    url = f"/v1/sso/help?return_to={quote(RETURN_TO)}&return_to={quote('https://help.acme.com/')}"
    response = await sso.get(url, headers=cookie())
    assert (response.status, (await response.json())["code"]) == (400, "bad_return_to")


async def test_a_bad_return_to_is_400_before_any_login_redirect(
    make_client: ClientFactory,
) -> None:
    client = await make_client(sso_settings(login_url=LOGIN_URL))
    response = await client.get(
        "/v1/sso/help", params={"return_to": "https://evil.example/"}, allow_redirects=False
    )
    assert response.status == 400


async def test_no_login_and_no_login_url_is_401_00_00(sso: AppClient) -> None:
    response = await sso.get("/v1/sso/help", params={"return_to": RETURN_TO})
    assert response.status == 401
    assert await response.json() == {"code": "00-00", "description": "Token not passed"}


async def test_an_invalid_login_is_401_00_01(sso: AppClient) -> None:
    forged = login_token("an-attacker-secret-0123456789abcdef012345")
    response = await sso.get(
        "/v1/sso/help", params={"return_to": RETURN_TO}, headers=cookie(forged)
    )
    assert (response.status, (await response.json())["code"]) == (401, "00-01")


async def test_no_email_is_422_00_03(sso: AppClient) -> None:
    token = login_token(email=None)
    response = await sso.get("/v1/sso/help", params={"return_to": RETURN_TO}, headers=cookie(token))
    assert (response.status, (await response.json())["code"]) == (422, "00-03")


@pytest.mark.parametrize("token", [None, "not-a-jwt"])
async def test_no_login_with_login_url_is_302_to_it_with_this_requests_url(
    make_client: ClientFactory, token: str | None
) -> None:
    client = await make_client(sso_settings(login_url=LOGIN_URL))
    headers = {"Cookie": f"token={token}"} if token else {}
    url = URL("/v1/sso/help").with_query({"return_to": RETURN_TO})
    response = await client.get(url, headers=headers, allow_redirects=False)
    assert response.status == 302
    this_url = str(client.make_url(str(url)))
    assert response.headers["Location"] == (
        "https://acme.example.com/login?next=" + quote(this_url, safe="")
    )


async def test_unknown_and_non_sso_targets_are_404(sso: AppClient) -> None:
    for name in ("nope", "chat"):
        response = await sso.get(f"/v1/sso/{name}", headers=cookie())
        assert (response.status, (await response.json())["code"]) == (404, "target_not_found")


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_the_token_endpoint_refuses_an_sso_target_with_404_sso_only_target(
    sso: AppClient, method: str
) -> None:
    response = await sso.request(method, "/v1/targets/help/token", headers=cookie())
    assert response.status == 404
    assert (await response.json())["code"] == "sso_only_target"


@pytest.mark.parametrize(
    "fetch", [{"Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}, {"Sec-Fetch-Dest": "iframe"}]
)
async def test_only_a_top_level_navigation_gets_the_page(
    sso: AppClient, fetch: dict[str, str]
) -> None:
    response = await sso.get(
        "/v1/sso/help", params={"return_to": RETURN_TO}, headers={**cookie(), **fetch}
    )
    assert (response.status, (await response.json())["code"]) == (403, "fetch_metadata_refused")


async def test_a_cross_site_navigation_from_zendesk_gets_the_page(sso: AppClient) -> None:
    navigation = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate",
                  "Sec-Fetch-Dest": "document"}  # fmt: skip
    response = await sso.get(
        "/v1/sso/help", params={"return_to": RETURN_TO}, headers={**cookie(), **navigation}
    )
    assert response.status == 200


async def test_logout_goes_to_an_allowed_return_to_or_the_help_centers_home(
    sso: AppClient,
) -> None:
    response = await sso.get(
        "/v1/sso/help/logout", params={"return_to": RETURN_TO}, allow_redirects=False
    )
    assert (response.status, response.headers["Location"]) == (302, RETURN_TO)
    response = await sso.get("/v1/sso/help/logout", allow_redirects=False)
    assert (response.status, response.headers["Location"]) == (302, BASE + "/")


async def test_logout_goes_to_the_configured_logout_url(make_client: ClientFactory) -> None:
    target = {"logout_url": "https://acme.example.com/logout?then={return}"}
    client = await make_client(sso_settings(target))
    response = await client.get(
        "/v1/sso/help/logout",
        params={"return_to": RETURN_TO, "email": EMAIL, "external_id": SUB},
        allow_redirects=False,
    )
    assert response.status == 302
    assert response.headers["Location"] == (
        "https://acme.example.com/logout?then=" + quote(RETURN_TO, safe="")
    )


async def test_the_token_reaches_no_log_line_and_no_header(
    make_client: ClientFactory, log_stream: io.StringIO, log_lines: Lines
) -> None:
    client = await make_client(sso_settings(log={"access": True}))
    response = await client.get("/v1/sso/help", params={"return_to": RETURN_TO}, headers=cookie())
    token = form_of(await response.text()).fields["jwt"]
    signature = token.rsplit(".", 1)[1]
    lines = log_lines()
    assert any(line.get("route") == "/v1/sso/{name}" for line in lines)
    assert signature not in log_stream.getvalue()
    assert all(signature not in value for value in response.headers.values())


async def test_the_fake_help_center_accepts_the_form_once(
    make_client: ClientFactory, fake_help_center: FakeHelpCenter
) -> None:
    fake = fake_help_center
    port = fake.url.rsplit(":", 1)[1]
    client = await make_client(
        sso_settings({"base_url": fake.url, "return_to_hosts": [f"127.0.0.1:{port}"]})
    )
    return_to = f"{fake.url}/hc/en-us"
    response = await client.get("/v1/sso/help", params={"return_to": return_to}, headers=cookie())
    form = form_of(await response.text())
    async with aiohttp.ClientSession() as session:
        for expected in (303, 403):  # the same jti a second time is a replay
            async with session.post(
                form.forms[0]["action"], data=form.fields, allow_redirects=False
            ) as answer:
                assert answer.status == expected
    assert fake.refusals == ["jti_replayed"]
    (arrival,) = fake.arrivals
    assert arrival.return_to == return_to
    assert arrival.claims["external_id"] == SUB
    claims = jwt.decode(form.fields["jwt"], SSO_SECRET, algorithms=["HS256"])
    assert claims == arrival.claims
