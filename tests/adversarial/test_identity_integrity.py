"""Identity across several login systems, attacked through HTTP: one test per weakness.

A gateway with three login systems (``shop`` and ``idp`` share the cookie name ``token``;
``partner`` uses ``idp_token``), widgets that match people by email, HubSpot and a Zendesk
Chat lookup behind real fakes, and the demo page. Each test sends the request an attacker
would send and checks what comes back and what the vendors were asked:

1. a staff login from a login system that is not a staff system;
2. a login token whose ``email_verified`` is false;
3. two valid login cookies of two people in one request (cookie tossing);
4. the same ``sub`` in two login systems;
5. one user whose email HubSpot refuses, asking again and again;
6. the demo page asked under another ``Host`` (DNS rebinding) or through a client-IP header.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest

from bridge.settings.loading import parse_settings
from bridge.settings.root import Settings
from tests.conftest import CHAT_SECRET, MESSAGING_SECRET, AppClient, ClientFactory, Lines, config
from tests.support.fake_hubspot import ACCESS_TOKEN, FakeHubSpot
from tests.support.fake_zendesk import CHAT_TOKEN, LOGIN_USER, FakeZendesk, Reply

SHOP, IDP, PARTNER = "https://login.shop.example", "https://idp.example", "https://partner.example"
SECRETS = {
    SHOP: "shop-login-secret-0123456789abcdef0123456",
    IDP: "idp-login-secret-0123456789abcdef01234567",
    PARTNER: "partner-login-secret-0123456789abcdef0123",
}
CRISP_SECRET = "crisp-secret-0123456789abcdef0123456789"
INTERCOM_SECRET = "intercom-secret-0123456789abcdef01234567"
SSO_SECRET = "sso-secret-0123456789abcdef0123456789abc"
VISITOR = "9855790.xjj3ukxyIhn6j3"
SUPPORT = [{"id": 1, "name": "support", "is_default": False}]


def gateway(
    hubspot: FakeHubSpot,
    zendesk: FakeZendesk,
    *,
    prefixes: bool = False,
    staff: dict[str, Any] | None = None,
    **upstream_overrides: dict[str, Any],
) -> Settings:
    systems: list[dict[str, Any]] = [
        {"name": "shop", "issuer": SHOP, "cookie": "token"},
        {"name": "idp", "issuer": IDP, "cookie": "token"},
        {"name": "partner", "issuer": PARTNER, "cookie": "idp_token"},
    ]
    for system in systems:
        system["secrets"] = [{"value": SECRETS[system["issuer"]]}]
        if prefixes:
            system["subject_prefix"] = system["name"] + ":"
        system.update(upstream_overrides.get(system["name"], {}))
    data = config(
        upstreams=systems,
        rate_limits={"per_address": None, "per_subject": None},
        staff={"login_group": "support", **(staff or {})},
        zendesk_chat_api={"base_url": zendesk.chat_url, "token": {"value": CHAT_TOKEN}},
        demo={"enabled": True, "i_understand_this_mints_login_cookies": True},
    )
    del data["upstream"]
    del data["targets"]["zipchat"]
    data["targets"]["messaging"]["email_verified"] = True
    data["targets"].update(
        {
            "intercom": {"type": "intercom", "secret": {"value": INTERCOM_SECRET}},
            "crisp": {"type": "hmac_identity", "vendor": "crisp",
                      "secret": {"value": CRISP_SECRET}},
            "intercom-hash": {"type": "hmac_identity", "vendor": "intercom_legacy",
                              "secret": {"value": INTERCOM_SECRET}},
            "help-center": {"type": "zendesk_sso", "base_url": "https://acme.zendesk.com",
                            "secret": {"value": SSO_SECRET}},
            "hubspot": {"type": "hubspot", "access_token": {"value": ACCESS_TOKEN},
                        "api_base_url": hubspot.url},
        }
    )  # fmt: skip
    return parse_settings(data, environ={})


def login(iss: str, **claims: Any) -> str:
    payload = {"iss": iss, "exp": int(time.time()) + 3600, **claims}
    return jwt.encode(payload, SECRETS[iss], algorithm="HS256")


def payload_of(token: str) -> dict[str, Any]:
    """A minted JWT's claims (the signature is the tests' of each target, elsewhere)."""
    segment = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return claims


async def get(client: AppClient, path: str, **headers: str) -> tuple[int, dict[str, Any], str]:
    async with client.get(path, headers=headers, allow_redirects=False) as response:
        body = await response.json() if response.content_type == "application/json" else {}
        return response.status, body, response.headers["X-Request-ID"]


def line_of(lines: Lines, request_id: str) -> dict[str, Any]:
    (line,) = [x for x in lines() if x.get("request_id") == request_id and "status" in x]
    return line


@pytest.fixture
async def client(
    make_client: ClientFactory, fake_hubspot: FakeHubSpot, fake_zendesk: FakeZendesk
) -> AppClient:
    return await make_client(gateway(fake_hubspot, fake_zendesk))


# --- 1. staff logins: by the login system that verified the token, never by cookie name -----


async def test_a_staff_login_from_another_login_system_is_refused(
    client: AppClient, fake_zendesk: FakeZendesk, audit_lines: Lines
) -> None:
    token = login(IDP, sub="idp-user-1", groups=SUPPORT)  # idp shares the cookie name `token`
    status, body, _ = await get(client, f"/v1/visitors/{VISITOR}", Cookie=f"token={token}")
    assert (status, body["code"]) == (401, "staff_unauthorized")
    assert fake_zendesk.calls == 0
    (audit,) = audit_lines()
    assert (audit["staff"], audit["verdict"]) == ("-", "staff_unauthorized")

    # the first system's staff member is staff (the default staff.login_systems)
    token = login(SHOP, sub="shop-agent", groups=SUPPORT)
    status, body, _ = await get(client, f"/v1/visitors/{VISITOR}", Cookie=f"token={token}")
    assert (status, body["visitor"]["external_id"]) == (200, LOGIN_USER)
    assert audit_lines()[-1]["staff"] == "login:shop-agent"


async def test_staff_login_systems_names_whose_tokens_are_staff_logins_in_any_cookie(
    make_client: ClientFactory, fake_hubspot: FakeHubSpot, fake_zendesk: FakeZendesk
) -> None:
    client = await make_client(
        gateway(fake_hubspot, fake_zendesk, staff={"login_systems": ["partner"]})
    )
    partner = login(PARTNER, sub="partner-agent", groups=SUPPORT)
    status, _, _ = await get(client, f"/v1/visitors/{VISITOR}", Cookie=f"idp_token={partner}")
    assert status == 200
    for iss in (SHOP, IDP):  # no longer staff systems, whatever cookie they come in
        token = login(iss, sub="agent", groups=SUPPORT)
        status, body, _ = await get(client, f"/v1/visitors/{VISITOR}", Cookie=f"token={token}")
        assert (status, body["code"]) == (401, "staff_unauthorized")
    # a staff system's token without the group is no staff login either
    plain = login(PARTNER, sub="partner-user")
    status, body, _ = await get(client, f"/v1/visitors/{VISITOR}", Cookie=f"idp_token={plain}")
    assert (status, body["code"]) == (401, "staff_unauthorized")
    assert fake_zendesk.calls == 1


def test_staff_login_systems_must_name_configured_systems(
    fake_hubspot: FakeHubSpot, fake_zendesk: FakeZendesk
) -> None:
    from bridge.errors import ConfigError

    with pytest.raises(ConfigError) as raised:
        gateway(fake_hubspot, fake_zendesk, staff={"login_systems": ["shop", "nope", "other"]})
    assert raised.value.problems == [
        "staff.login_systems: 'nope' is not a login system (shop, idp, partner)",
        "staff.login_systems: 'other' is not a login system (shop, idp, partner)",
    ]


# --- 2. an email its own login system calls unverified is nobody's ---------------------------

CEO = "ceo@corp.example"


@pytest.mark.parametrize("said", [False, "false", "FALSE"])
async def test_an_unverified_email_reaches_no_target(
    client: AppClient, fake_hubspot: FakeHubSpot, said: Any
) -> None:
    cookie = f"token={login(SHOP, sub='u-2', email=CEO, email_verified=said, name='Mallory')}"
    for target in ("chat", "freshdesk", "crisp", "hubspot"):
        status, body, _ = await get(client, f"/v1/targets/{target}/token", Cookie=cookie)
        assert (status, body["code"]) == (422, "00-03"), target
    status, body, _ = await get(
        client, "/v1/sso/help-center?return_to=https://acme.zendesk.com/hc", Cookie=cookie
    )
    assert (status, body["code"]) == (422, "00-03")
    assert fake_hubspot.calls == 0
    # the widgets that need no email get none, and no email_verified
    for _ in range(2):  # the second answer comes from the verified-token cache (fast path)
        status, body, _ = await get(client, "/v1/targets/messaging/token", Cookie=cookie)
        assert status == 200
        claims = jwt.decode(body["token"], MESSAGING_SECRET, algorithms=["HS256"])
        assert (claims["external_id"], claims["name"]) == ("u-2", "Mallory")
        assert "email" not in claims
        assert "email_verified" not in claims
        status, body, _ = await get(client, "/v1/targets/intercom/token", Cookie=cookie)
        assert status == 200
        assert CEO not in json.dumps(payload_of(body["token"]))


@pytest.mark.parametrize(
    ("system", "said", "claimed"),
    [
        ({}, None, False),  # unknown: the email is used, never claimed verified
        ({}, True, True),  # the token says so
        ({}, "true", True),
        ({"emails_verified": True}, None, True),  # the login system vouches for all its emails
        ({"emails_verified": True}, False, None),  # ... but never for one its token disowns
    ],
)
async def test_email_verified_is_claimed_only_for_what_the_login_vouches_for(
    make_client: ClientFactory,
    fake_hubspot: FakeHubSpot,
    fake_zendesk: FakeZendesk,
    system: dict[str, Any],
    said: Any,
    claimed: bool | None,
) -> None:
    client = await make_client(gateway(fake_hubspot, fake_zendesk, shop=system))
    extra = {} if said is None else {"email_verified": said}
    cookie = f"token={login(SHOP, sub='u-3', email=CEO, **extra)}"
    status, body, _ = await get(client, "/v1/targets/messaging/token", Cookie=cookie)
    assert status == 200
    claims = jwt.decode(body["token"], MESSAGING_SECRET, algorithms=["HS256"])
    if claimed is None:
        assert "email" not in claims
        assert "email_verified" not in claims
    else:
        assert claims["email"] == CEO
        assert claims.get("email_verified", False) is claimed
    # another system's setting vouches for nobody else's emails
    other = f"token={login(IDP, sub='u-4', email=CEO)}"
    status, body, _ = await get(client, "/v1/targets/messaging/token", Cookie=other)
    assert "email_verified" not in jwt.decode(body["token"], MESSAGING_SECRET, algorithms=["HS256"])


# --- 3. two people in one request -------------------------------------------------------------


@pytest.mark.parametrize("order", ["visitor-first", "attacker-first"])
async def test_two_valid_logins_of_two_people_are_refused(
    client: AppClient, log_lines: Lines, order: str
) -> None:
    visitor = login(PARTNER, sub="visitor-1", email="visitor@example.com")
    attacker = login(SHOP, sub="attacker-1", email="attacker@example.com")
    pairs = [f"idp_token={visitor}", f"token={attacker}"]
    if order == "attacker-first":
        pairs.reverse()
    for path in ("/v1/targets/chat/token", "/generate/token"):
        status, body, request_id = await get(client, path, Cookie="; ".join(pairs))
        assert (status, body["code"]) == (401, "00-01")
        assert "token" not in body
        assert line_of(log_lines, request_id)["reason"] == "ambiguous_login"
    # in two Cookie headers alike
    async with client.get(
        "/generate/token", headers=[("Cookie", pairs[0]), ("Cookie", pairs[1])]
    ) as response:
        assert response.status == 401


async def test_two_logins_of_one_person_and_a_stale_second_cookie_are_no_ambiguity(
    client: AppClient,
) -> None:
    partner, shop = login(PARTNER, sub="u-5"), login(SHOP, sub="u-5", email="a@x.example")
    status, body, _ = await get(
        client, "/generate/token", Cookie=f"idp_token={partner}; token={shop}"
    )
    assert status == 200
    # one person: the identity of the first login system in the configured order
    assert jwt.decode(body["token"], CHAT_SECRET, algorithms=["HS256"])["email"] == "a@x.example"
    expired = login(SHOP, sub="attacker-1", exp=1_000_000)
    stale = f"token={expired}; idp_token={login(PARTNER, sub='visitor-1', email='v@x.example')}"
    status, body, _ = await get(client, "/generate/token", Cookie=stale)
    assert status == 200
    assert (
        jwt.decode(body["token"], CHAT_SECRET, algorithms=["HS256"])["external_id"] == "visitor-1"
    )


# --- 4. the same sub in two login systems -----------------------------------------------------


async def test_subject_prefixes_keep_the_same_sub_of_two_systems_apart(
    make_client: ClientFactory,
    fake_hubspot: FakeHubSpot,
    fake_zendesk: FakeZendesk,
    log_lines: Lines,
) -> None:
    client = await make_client(gateway(fake_hubspot, fake_zendesk, prefixes=True))
    seen: dict[str, dict[str, Any]] = {}
    for iss, name in ((SHOP, "shop"), (IDP, "idp")):
        cookie = f"token={login(iss, sub='42', email=f'{name}@example.com')}"
        status, body, request_id = await get(client, "/v1/targets/chat/token", Cookie=cookie)
        assert status == 200
        chat = jwt.decode(body["token"], CHAT_SECRET, algorithms=["HS256"])
        status, hashed, _ = await get(client, "/v1/targets/intercom-hash/token", Cookie=cookie)
        assert status == 200
        status, body, _ = await get(client, "/v1/targets/messaging/token", Cookie=cookie)
        messaging = jwt.decode(body["token"], MESSAGING_SECRET, algorithms=["HS256"])
        seen[name] = {
            "chat": chat["external_id"],
            "messaging": messaging["external_id"],
            "identifier": hashed["identifier"],
            "hmac": hashed["token"],
            "line": line_of(log_lines, request_id)["subject"],
        }
    expected = hmac.new(INTERCOM_SECRET.encode(), b"shop:42", hashlib.sha256).hexdigest()
    assert seen["shop"] == {
        "chat": "shop:42", "messaging": "shop:42", "identifier": "shop:42", "hmac": expected,
        "line": "shop:42",
    }  # fmt: skip
    assert seen["idp"]["chat"] == seen["idp"]["identifier"] == seen["idp"]["line"] == "idp:42"
    assert seen["idp"]["hmac"] != seen["shop"]["hmac"]


def test_check_config_warns_when_login_systems_have_no_distinct_prefixes(
    fake_hubspot: FakeHubSpot, fake_zendesk: FakeZendesk
) -> None:
    bare = gateway(fake_hubspot, fake_zendesk).warnings()
    assert any("shop, idp, partner set no subject_prefix" in warning for warning in bare)
    assert not [w for w in gateway(fake_hubspot, fake_zendesk, prefixes=True).warnings()
                if "subject_prefix" in w]  # fmt: skip
    nested = gateway(
        fake_hubspot, fake_zendesk, prefixes=True,
        idp={"subject_prefix": "shop:x"},
    ).warnings()  # fmt: skip
    assert any("subject_prefix of shop and idp can give the same subject" in w for w in nested)


# --- 5. one user's refused input never opens HubSpot's breaker --------------------------------


async def test_one_user_whose_email_hubspot_refuses_never_opens_the_breaker(
    client: AppClient, fake_hubspot: FakeHubSpot
) -> None:
    refused = f"token={login(SHOP, sub='u-bad', email='refused@corp.example')}"
    fake_hubspot.then(Reply(400, json={"status": "error", "category": "VALIDATION_ERROR"}))
    for _ in range(10):
        status, body, _ = await get(client, "/v1/targets/hubspot/token", Cookie=refused)
        assert (status, body["code"]) == (502, "vendor_bad_response")
    assert fake_hubspot.calls == 1  # the refusal is remembered for that user, briefly

    # ten more users HubSpot refuses, each once: still no breaker for anybody else
    fake_hubspot.then(*[Reply(400, json={"category": "VALIDATION_ERROR"})] * 10)
    for i in range(10):
        cookie = f"token={login(SHOP, sub=f'u-bad-{i}', email=f'refused{i}@corp.example')}"
        assert (await get(client, "/v1/targets/hubspot/token", Cookie=cookie))[0] == 502
    good = f"token={login(SHOP, sub='u-good', email='good@corp.example')}"
    status, body, _ = await get(client, "/v1/targets/hubspot/token", Cookie=good)
    assert (status, body["email"]) == (200, "good@corp.example")
    assert fake_hubspot.calls == 12


@pytest.mark.parametrize("refusal", [401, 403, 429, 500])
async def test_what_says_the_vendor_is_in_trouble_still_opens_the_breaker(
    client: AppClient, fake_hubspot: FakeHubSpot, refusal: int
) -> None:
    fake_hubspot.then(*[Reply(refusal, json={})] * 20)
    for i in range(5):
        cookie = f"token={login(SHOP, sub=f'u-{i}', email=f'u{i}@corp.example')}"
        assert (await get(client, "/v1/targets/hubspot/token", Cookie=cookie))[0] in (502, 503)
    calls = fake_hubspot.calls
    good = f"token={login(SHOP, sub='u-good', email='good@corp.example')}"
    status, body, _ = await get(client, "/v1/targets/hubspot/token", Cookie=good)
    assert (status, body["code"]) == (503, "vendor_circuit_open")
    assert fake_hubspot.calls == calls


# --- 6. the demo answers the loopback names only ----------------------------------------------

DEMO_USER = json.dumps({"sub": "x"})


async def demo_login(client: AppClient, **headers: str) -> tuple[int, dict[str, Any], bool]:
    headers = {"Content-Type": "application/json", **headers}
    async with client.post("/demo/login", data=DEMO_USER, headers=headers) as response:
        body = await response.json()
        return response.status, body, "Set-Cookie" in response.headers


async def test_the_demo_refuses_a_rebound_host(client: AppClient) -> None:
    port = client.port
    for host in (f"rebind.attacker.example:{port}", "rebind.attacker.example", f"127.0.0.2:{port}",
                 f"localhost.attacker.example:{port}", f"127.0.0.1.nip.io:{port}"):  # fmt: skip
        status, body, cookie = await demo_login(client, Host=host, Origin=f"http://{host}")
        assert (status, body["code"], cookie) == (403, "demo_local_only", False), host
        async with client.get("/demo", headers={"Host": host}) as response:
            assert response.status == 403
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "localhost"):
        status, _, cookie = await demo_login(client, Host=host, Origin=f"http://{host}")
        assert (status, cookie) == (200, True), host


@pytest.mark.parametrize(
    "header", ["X-Client-IP", "True-Client-IP", "CF-Connecting-IP", "Fastly-Client-IP"]
)
async def test_the_demo_refuses_client_ip_headers(client: AppClient, header: str) -> None:
    status, body, cookie = await demo_login(client, **{header: "203.0.113.9"})
    assert (status, body["code"], cookie) == (403, "demo_local_only", False)
