"""The ``intercom`` and ``hmac_identity`` targets through HTTP: the answers' shapes and
headers, each credential checked independently (PyJWT; hashlib's HMAC)."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import jwt
import pytest

from bridge.settings.loading import parse_settings
from bridge.settings.root import Settings
from tests.conftest import EMAIL, ORIGIN, SUB, AppClient, ClientFactory, config, login_token

#: the token requests as first requests and as repeats (tests.support.ways)
pytestmark = pytest.mark.both_ways

INTERCOM_SECRET = "api-test-intercom-messenger-secret-012345"
SECRETS = {
    "crisp": "api-test-crisp-verification-secret",
    "helpscout": "api-test-helpscout-beacon-secret-key",
    "front": "api-test-front-chat-identity-secret",
    "intercom_legacy": "api-test-intercom-identity-secret",
}


def widget_settings() -> Settings:
    data = config()
    data["targets"]["intercom"] = {
        "type": "intercom",
        "secret": {"value": INTERCOM_SECRET},
        "user_attributes": ["plan"],
    }
    for vendor, secret in SECRETS.items():
        data["targets"][vendor] = {
            "type": "hmac_identity",
            "vendor": vendor,
            "secret": {"value": secret},
        }
    return parse_settings(data, environ={})


@pytest.fixture
async def widgets(make_client: ClientFactory) -> AppClient:
    return await make_client(widget_settings())


def cookie(**claims: Any) -> dict[str, str]:
    return {"Cookie": f"token={login_token(**claims)}", "Origin": ORIGIN}


async def test_intercom_answer_is_a_jwt_intercom_would_accept(widgets: AppClient) -> None:
    before = int(time.time())
    response = await widgets.get("/v1/targets/intercom/token", headers=cookie(plan="gold"))
    assert response.status == 200
    body = await response.json()
    assert set(body) == {"token", "target", "expires_at"}
    claims = jwt.decode(body["token"], INTERCOM_SECRET, algorithms=["HS256"])
    assert claims["user_id"] == SUB
    assert (claims["email"], claims["plan"]) == (EMAIL, "gold")
    assert before + 3600 <= claims["exp"] == body["expires_at"] <= int(time.time()) + 3600
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


async def test_intercom_answers_the_bare_jwt_on_request(widgets: AppClient) -> None:
    headers = {**cookie(), "Accept": "application/jwt"}
    response = await widgets.get("/v1/targets/intercom/token", headers=headers)
    assert response.content_type == "application/jwt"
    assert (
        jwt.decode(await response.text(), INTERCOM_SECRET, algorithms=["HS256"])["user_id"] == SUB
    )


@pytest.mark.parametrize("vendor", sorted(SECRETS))
async def test_hmac_identity_answer_is_the_hmac_of_the_identifier_it_names(
    widgets: AppClient, vendor: str
) -> None:
    response = await widgets.post(f"/v1/targets/{vendor}/token", headers=cookie())
    assert response.status == 200
    body = await response.json()
    assert set(body) == {"token", "target", "expires_at", "identifier"}
    expected_identifier = SUB if vendor == "intercom_legacy" else EMAIL
    assert (body["target"], body["expires_at"], body["identifier"]) == (
        vendor, None, expected_identifier,
    )  # fmt: skip
    secret = SECRETS[vendor].encode()
    expected = hmac.new(secret, expected_identifier.encode(), hashlib.sha256).hexdigest()
    assert body["token"] == expected


async def test_hmac_identity_answers_are_never_stored_by_a_browser_or_proxy(
    widgets: AppClient,
) -> None:
    response = await widgets.get("/v1/targets/crisp/token", headers=cookie())
    assert response.headers["Cache-Control"] == "no-store"
    assert "Origin" in response.headers["Vary"]


async def test_hmac_identity_ignores_accept_jwt(widgets: AppClient) -> None:
    headers = {**cookie(), "Accept": "application/jwt"}
    response = await widgets.get("/v1/targets/front/token", headers=headers)
    assert response.content_type == "application/json"
    assert (await response.json())["identifier"] == EMAIL


async def test_hmac_identity_of_an_email_without_one_is_422_00_03(widgets: AppClient) -> None:
    response = await widgets.get("/v1/targets/helpscout/token", headers=cookie(email=None))
    assert response.status == 422
    assert await response.json() == {"code": "00-03", "description": '"email" claim is missed'}
    legacy = await widgets.get("/v1/targets/intercom_legacy/token", headers=cookie(email=None))
    assert (await legacy.json())["identifier"] == SUB


async def test_hmac_identity_without_a_login_is_401(widgets: AppClient) -> None:
    response = await widgets.get("/v1/targets/crisp/token")
    assert response.status == 401
    assert (await response.json())["code"] == "00-00"
