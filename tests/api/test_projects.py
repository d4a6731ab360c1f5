"""Several Xsolla Login projects behind one gateway, through HTTP.

Every Xsolla Login project's tokens carry the same ``iss``; the project is the claim
``xsolla_login_project_id``. Three projects share the issuer here: ``a`` and ``b`` with HS
secrets of their own, ``c`` with RS256 keys from a local key server at Xsolla's per-project
path (``/api/projects/{project_id}/keys``, the placeholder filled in by the gateway). The
hostile table tries to make one project's key vouch for another's token, or a token pass
without naming a configured project; each row must be a 401 ``00-01`` with its reason and mint
nothing. A flood of tokens naming unknown projects must fetch no keys.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from bridge.errors import ConfigError
from bridge.settings.loading import parse_settings
from bridge.settings.root import Settings
from tests.conftest import CHAT_SECRET, AppClient, ClientFactory, Lines, config
from tests.support.prom import scrape, value
from tests.support.tokens import forge, hs, rs, rsa_key, xsolla_key

#: the token requests as first requests and as repeats (tests.support.ways)
pytestmark = pytest.mark.both_ways

XSOLLA = "https://login.xsolla.com"
PROJECT_A = "0f8e8a34-6d9c-4b3a-9d8e-1a2b3c4d5e6f"
PROJECT_B = "7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
PROJECT_C = "b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e"
SECRET_A = "project-a-login-secret-0123456789abcdef01"
SECRET_B = "project-b-login-secret-0123456789abcdef01"
KEY_C = rsa_key(7)
KID_C = "c-key-1"
KEYS_PATH = "/api/projects/{project_id}/keys"
PROJECT_CLAIM = "xsolla_login_project_id"


class XsollaKeys:
    """Xsolla Login's project keys endpoint: project C's keys, a 404 for any other project;
    every request counted by project."""

    def __init__(self) -> None:
        self.fetches: Counter[str] = Counter()
        self.base = ""

    async def handle(self, request: web.Request) -> web.Response:
        project = request.match_info["project_id"]
        self.fetches[project] += 1
        if project != PROJECT_C:
            return web.json_response({"error": "project not found"}, status=404)
        return web.json_response([xsolla_key(KEY_C, KID_C)])


@pytest.fixture
async def keys(aiohttp_server: AiohttpServer) -> XsollaKeys:
    state = XsollaKeys()
    app = web.Application()
    app.router.add_get(KEYS_PATH, state.handle)
    server = await aiohttp_server(app)
    state.base = str(server.make_url("")).rstrip("/")
    return state


def projects(keys: XsollaKeys, **overrides: Any) -> dict[str, Any]:
    data = config(
        upstreams=[
            {"name": "a", "issuer": XSOLLA, "project_id": PROJECT_A, "subject_prefix": "a:",
             "secrets": [{"value": SECRET_A}]},
            {"name": "b", "issuer": XSOLLA, "project_id": PROJECT_B, "subject_prefix": "b:",
             "secrets": [{"value": SECRET_B}]},
            {"name": "c", "issuer": XSOLLA, "project_id": PROJECT_C, "subject_prefix": "c:",
             "algorithms": ["RS256"], "keys_url": keys.base + KEYS_PATH},
        ],
        rate_limits={"per_address": None, "per_subject": None},
        **overrides,
    )  # fmt: skip
    del data["upstream"]
    del data["targets"]["zipchat"]
    return data


def settings_for(keys: XsollaKeys, **overrides: Any) -> Settings:
    return parse_settings(projects(keys, **overrides), environ={})


@pytest.fixture
async def client(make_client: ClientFactory, keys: XsollaKeys) -> AppClient:
    client = await make_client(settings_for(keys))
    for _ in range(200):  # the RS project's keys are fetched at start-up
        if keys.fetches[PROJECT_C]:
            break
        await asyncio.sleep(0.01)
    return client


def claims(project: Any = PROJECT_A, **extra: Any) -> dict[str, Any]:
    payload = {"iss": XSOLLA, "sub": "user-1", "email": "u@example.com", "exp": 2**31,
               PROJECT_CLAIM: project, **extra}  # fmt: skip
    return {k: v for k, v in payload.items() if v is not None}


def hs_token(payload: Any, secret: str, **header: Any) -> str:
    return forge({"alg": "HS256", "typ": "JWT", **header}, payload, hs(secret.encode()))


def rs_token(payload: Any, kid: str = KID_C) -> str:
    return forge({"alg": "RS256", "typ": "JWT", "kid": kid}, payload, rs(KEY_C))


async def mint(client: AppClient, token: str) -> tuple[int, dict[str, Any], str]:
    async with client.get("/generate/token", headers={"Cookie": f"token={token}"}) as response:
        return response.status, await response.json(), response.headers["X-Request-ID"]


def access_line(lines: Lines, request_id: str) -> dict[str, Any]:
    (line,) = [x for x in lines() if x.get("request_id") == request_id]
    return line


async def test_each_project_verifies_its_own_tokens_and_is_named(
    client: AppClient, keys: XsollaKeys, log_lines: Lines
) -> None:
    tokens = {
        "a": hs_token(claims(PROJECT_A), SECRET_A),
        "b": hs_token(claims(PROJECT_B), SECRET_B),
        "c": rs_token(claims(PROJECT_C)),
    }
    for name, token in tokens.items():
        status, body, request_id = await mint(client, token)
        assert status == 200, name
        chat = jwt.decode(body["token"], CHAT_SECRET, algorithms=["HS256"])
        assert chat["external_id"] == f"{name}:user-1"
        assert access_line(log_lines, request_id)["login"] == name
    samples = await scrape(client)
    for name in tokens:
        assert value(samples, "bridge_login_verified_total", login=name) == 1
    assert dict(keys.fetches) == {PROJECT_C: 1}


@dataclass(frozen=True)
class Hostile:
    id: str
    build: Callable[[], str]
    reason: str


TWO_ISS = (f'{{"iss":"https://login.xsolla.com/","iss":"{XSOLLA}","sub":"a","exp":{2**31},'
           f'"{PROJECT_CLAIM}":"{PROJECT_A}"}}')  # fmt: skip
TWO_PROJECTS = (f'{{"iss":"{XSOLLA}","sub":"a","exp":{2**31},"{PROJECT_CLAIM}":"{PROJECT_B}",'
                f'"{PROJECT_CLAIM}":"{PROJECT_A}"}}')  # fmt: skip
#: every way one project's key might vouch for another's token, or a token pass without naming
#: a configured project
HOSTILE = [
    Hostile("b-token-signed-with-a-secret",
            lambda: hs_token(claims(PROJECT_B), SECRET_A), "bad_signature"),
    Hostile("a-token-signed-with-b-secret",
            lambda: hs_token(claims(PROJECT_A), SECRET_B), "bad_signature"),
    Hostile("a-claims-with-c-kid-signed-with-c-key",
            lambda: rs_token(claims(PROJECT_A)), "alg_not_allowed"),
    Hostile("c-claims-signed-with-a-secret-and-c-kid",
            lambda: hs_token(claims(PROJECT_C), SECRET_A, kid=KID_C), "alg_not_allowed"),
    Hostile("a-claims-with-b-kid-signed-with-b-secret",
            lambda: hs_token(claims(PROJECT_A), SECRET_B, kid="b"), "bad_signature"),
    Hostile("unknown-project-signed-with-a-secret",
            lambda: hs_token(claims(str(uuid.UUID(int=1))), SECRET_A), "unknown_project"),
    Hostile("unknown-project-signed-with-c-key",
            lambda: rs_token(claims(str(uuid.UUID(int=2)))), "unknown_project"),
    Hostile("project-claim-missing", lambda: hs_token(claims(None), SECRET_A), "unknown_project"),
    Hostile("project-claim-empty", lambda: hs_token(claims(""), SECRET_A), "unknown_project"),
    Hostile("project-claim-upper-case",
            lambda: hs_token(claims(PROJECT_A.upper()), SECRET_A), "unknown_project"),
    Hostile("project-claim-with-braces",
            lambda: hs_token(claims("{" + PROJECT_A + "}"), SECRET_A), "unknown_project"),
    Hostile("project-claim-as-number",
            lambda: hs_token(claims(uuid.UUID(PROJECT_A).int), SECRET_A), "unknown_project"),
    Hostile("project-claim-as-list",
            lambda: hs_token(claims([PROJECT_A]), SECRET_A), "unknown_project"),
    Hostile("project-claim-as-object",
            lambda: hs_token(claims({"id": PROJECT_A}), SECRET_A), "unknown_project"),
    Hostile("project-claim-duplicated",
            lambda: hs_token(TWO_PROJECTS, SECRET_A), "duplicate_key"),
    Hostile("two-iss-members", lambda: hs_token(TWO_ISS, SECRET_A), "duplicate_key"),
    Hostile("iss-with-a-trailing-slash",
            lambda: hs_token(claims(iss=XSOLLA + "/"), SECRET_A), "unknown_iss"),
    Hostile("iss-missing", lambda: hs_token(claims(iss=None), SECRET_A), "unknown_iss"),
]  # fmt: skip


@pytest.mark.parametrize("case", HOSTILE, ids=[case.id for case in HOSTILE])
async def test_no_project_vouches_for_another(
    case: Hostile, client: AppClient, keys: XsollaKeys, log_lines: Lines
) -> None:
    status, body, request_id = await mint(client, case.build())
    assert (status, body["code"]) == (401, "00-01")
    assert "token" not in body
    line = access_line(log_lines, request_id)
    assert (line["reason"], line["login"]) == (case.reason, None)
    print(f"{case.id}: {status} {body['code']} ({case.reason})")
    assert dict(keys.fetches) == {PROJECT_C: 1}


FLOOD = 500


async def test_a_flood_of_unknown_projects_fetches_no_keys(
    client: AppClient, keys: XsollaKeys
) -> None:
    """Unknown projects, signed with a configured project's secret or key and its kid, many
    at once: every one refused, and no keys URL asked for any project."""
    before = dict(keys.fetches)
    tokens = [
        hs_token(claims(str(uuid.uuid4())), SECRET_A)
        if i % 2
        else rs_token(claims(str(uuid.uuid4())))
        for i in range(FLOOD)
    ]
    answers = await asyncio.gather(*(mint(client, token) for token in tokens))
    assert {(status, body["code"]) for status, body, _ in answers} == {(401, "00-01")}
    assert before == dict(keys.fetches) == {PROJECT_C: 1}
    # unknown kids of the configured RS project refresh its keys at most once per cooldown
    unknown_kids = [rs_token(claims(PROJECT_C), kid=f"k{i}") for i in range(50)]
    answers = await asyncio.gather(*(mint(client, token) for token in unknown_kids))
    assert {status for status, _, _ in answers} == {401}
    assert keys.fetches[PROJECT_C] <= 2
    assert set(keys.fetches) == {PROJECT_C}
    print(f"{FLOOD} unknown-project tokens + 50 unknown kids: keys fetched {dict(keys.fetches)}")


async def test_a_token_is_never_served_from_another_projects_cache(
    client: AppClient, keys: XsollaKeys
) -> None:
    """The verified-token cache belongs to each project's entry: a token verified for A is
    A's identity, and B's token with A's sub stays B's."""
    a = hs_token(claims(PROJECT_A), SECRET_A)
    b = hs_token(claims(PROJECT_B), SECRET_B)
    for _ in range(3):
        for token, external_id in ((a, "a:user-1"), (b, "b:user-1")):
            status, body, _ = await mint(client, token)
            assert status == 200
            chat = jwt.decode(body["token"], CHAT_SECRET, algorithms=["HS256"])
            assert chat["external_id"] == external_id


async def test_one_project_gateway_compares_the_project_too(
    make_client: ClientFactory,
) -> None:
    upstream = {**config()["upstream"], "project_id": PROJECT_A}
    client = await make_client(parse_settings(config(upstream=upstream), environ={}))
    from tests.conftest import LOGIN_SECRET

    ok = jwt.encode(claims(PROJECT_A), LOGIN_SECRET, algorithm="HS256")
    assert (await mint(client, ok))[0] == 200
    for other in (PROJECT_B, None, [PROJECT_A], 7):
        token = hs_token(claims(other), LOGIN_SECRET)
        status, body, _ = await mint(client, token)
        assert (status, body["code"]) == (401, "00-01"), other


async def test_staff_logins_from_any_named_project_with_its_own_groups(
    make_client: ClientFactory, keys: XsollaKeys, fake_zendesk: Any
) -> None:
    from tests.support.fake_zendesk import CHAT_TOKEN

    staff = {"login_group": "support", "login_systems": ["b", "c"]}
    client = await make_client(settings_for(
        keys, staff=staff,
        zendesk_chat_api={"base_url": fake_zendesk.chat_url, "token": {"value": CHAT_TOKEN}},
    ))  # fmt: skip
    support = [{"id": 1, "name": "support", "is_default": False}]
    path = "/v1/visitors/9855790.xjj3ukxyIhn6j3"
    for token, status in (
        (hs_token(claims(PROJECT_B, groups=support), SECRET_B), 200),
        (rs_token(claims(PROJECT_C, groups=support)), 200),
        (hs_token(claims(PROJECT_A, groups=support), SECRET_A), 401),  # not a staff system
        (hs_token(claims(PROJECT_B), SECRET_B), 401),  # no staff group
    ):
        async with client.get(path, headers={"Cookie": f"token={token}"}) as response:
            assert response.status == status


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_settings(data, environ={})
    return raised.value.problems


def test_check_config_refuses_projects_that_cannot_be_told_apart(keys: XsollaKeys) -> None:
    data = projects(keys)
    del data["upstreams"][1]["project_id"]  # b shares a's issuer without a project
    data["upstreams"][2]["project_id"] = PROJECT_A
    assert problems(data) == [
        "upstreams: a and c have the same project_id",
        "upstreams: a and b have the same issuer 'https://login.xsolla.com'; entries may share "
        "an issuer only when each sets its own project_id",
        "upstreams: b and c have the same issuer 'https://login.xsolla.com'; entries may share "
        "an issuer only when each sets its own project_id",
    ]
    data = projects(keys)
    data["upstreams"][0]["project_id"] = "not-a-uuid"
    data["upstreams"][1]["project_id"] = PROJECT_B.upper()
    found = problems(data)
    assert [p.split(":")[0] for p in found] == ["upstreams.0.project_id", "upstreams.1.project_id"]
    data = projects(keys)
    del data["upstreams"][2]["project_id"]
    data["upstreams"][2]["issuer"] = "https://other.example"
    assert problems(data) == ["upstreams.2: keys_url names {project_id}: set project_id"]


async def test_mint_login_token_and_the_demo_sign_in_to_either_project(
    make_client: ClientFactory, keys: XsollaKeys, tmp_path: Any
) -> None:
    import yaml

    from bridge.__main__ import main

    data = projects(keys, demo={"enabled": True, "i_understand_this_mints_login_cookies": True})
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    client = await make_client(parse_settings(data, environ={}))
    for name, project in (("a", PROJECT_A), ("b", PROJECT_B)):
        import contextlib
        import io

        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(["mint-login-token", "--config", str(path), "--sub", "p1",
                         "--email", "p@example.com", "--login", name]) == 0  # fmt: skip
        token = out.getvalue().strip()
        client.session.cookie_jar.clear()  # the demo's cookie of the last round
        assert jwt.decode(token, options={"verify_signature": False})[PROJECT_CLAIM] == project
        status, body, _ = await mint(client, token)
        assert status == 200
        assert jwt.decode(body["token"], CHAT_SECRET, algorithms=["HS256"])["external_id"] == (
            f"{name}:p1"
        )

        headers = {"Content-Type": "application/json", "Origin": f"http://127.0.0.1:{client.port}"}
        user = json.dumps({"sub": "demo-1", "email": "d@example.com", "login": name})
        async with client.post("/demo/login", data=user, headers=headers) as response:
            assert response.status == 200
        async with client.get("/generate/token") as response:  # the demo's cookie
            chat = jwt.decode((await response.json())["token"], CHAT_SECRET, algorithms=["HS256"])
            assert chat["external_id"] == f"{name}:demo-1"
    assert main(["mint-login-token", "--config", str(path), "--sub", "x", "--login", "nope"]) == 2
    # the RS project cannot be signed in to by the demo (it has no secret)
    headers = {"Content-Type": "application/json", "Origin": f"http://127.0.0.1:{client.port}"}
    async with client.post(
        "/demo/login", data=json.dumps({"sub": "x", "login": "c"}), headers=headers
    ) as response:
        assert response.status == 400
    async with client.get("/demo") as response:
        page = await response.text()
        assert f'<option value="a">a (project {PROJECT_A})</option>' in page
        assert 'value="c"' not in page
