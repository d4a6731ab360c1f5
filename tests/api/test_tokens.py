"""The token endpoints through HTTP: Xsolla-compatible codes, shapes and headers."""

from __future__ import annotations

import time

import pytest

from tests.conftest import (
    CHAT_SECRET,
    EMAIL,
    MESSAGING_SECRET,
    OLD_LOGIN_SECRET,
    SUB,
    AppClient,
    login_token,
)
from tests.support.jwtcheck import parts, verify_hs256

#: the token requests as first requests and as repeats (tests.support.ways)
pytestmark = pytest.mark.both_ways


def cookie(token: str, name: str = "token") -> dict[str, str]:
    return {"Cookie": f"{name}={token}"}


async def error_of(client: AppClient, path: str, headers: dict[str, str]) -> tuple[int, object]:
    response = await client.get(path, headers=headers)
    assert response.content_type == "application/json"
    return response.status, await response.json()


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_generate_token_returns_only_a_chat_token(client: AppClient, method: str) -> None:
    response = await client.request(method, "/generate/token", headers=cookie(login_token()))
    assert response.status == 200
    assert response.content_type == "application/json"
    body = await response.json()
    assert list(body) == ["token"]
    _, claims = verify_hs256(body["token"], CHAT_SECRET)
    assert claims["external_id"] == SUB
    assert claims["email"] == EMAIL


async def test_token_answers_are_not_cacheable_or_sniffable(client: AppClient) -> None:
    response = await client.get("/generate/token", headers=cookie(login_token()))
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_no_cookie_is_401_00_00(client: AppClient) -> None:
    status, body = await error_of(client, "/generate/token", {})
    assert status == 401
    assert body == {"code": "00-00", "description": "Token not passed"}


async def test_empty_cookie_is_401_00_00(client: AppClient) -> None:
    status, body = await error_of(client, "/generate/token", {"Cookie": "token="})
    assert (status, body) == (401, {"code": "00-00", "description": "Token not passed"})


async def test_other_cookie_name_is_401_00_00(client: AppClient) -> None:
    status, _ = await error_of(client, "/generate/token", cookie(login_token(), "Token"))
    assert status == 401


async def test_bad_signature_is_401_00_01(client: AppClient) -> None:
    forged = login_token("an-attacker-secret-0123456789abcdef012345")
    status, body = await error_of(client, "/generate/token", cookie(forged))
    assert (status, body) == (401, {"code": "00-01", "description": "Token is invalid"})


async def test_expired_login_token_is_401_00_01(client: AppClient) -> None:
    expired = login_token(now=time.time() - 7200, ttl=3600)
    status, body = await error_of(client, "/generate/token", cookie(expired))
    assert status == 401
    assert body == {"code": "00-01", "description": "Token is invalid"}


async def test_no_sub_is_422_00_02(client: AppClient) -> None:
    status, body = await error_of(client, "/generate/token", cookie(login_token(sub=None)))
    assert (status, body) == (422, {"code": "00-02", "description": '"sub" claim is missed'})


async def test_no_email_is_422_00_03_for_zendesk_chat(client: AppClient) -> None:
    status, body = await error_of(client, "/generate/token", cookie(login_token(email=None)))
    assert (status, body) == (422, {"code": "00-03", "description": '"email" claim is missed'})


async def test_no_email_is_fine_for_zendesk_messaging(client: AppClient) -> None:
    response = await client.get(
        "/v1/targets/messaging/token", headers=cookie(login_token(email=None))
    )
    assert response.status == 200
    _, claims = verify_hs256((await response.json())["token"], MESSAGING_SECRET)
    assert "email" not in claims


async def test_rotated_out_secret_still_accepted_while_configured(client: AppClient) -> None:
    response = await client.get("/generate/token", headers=cookie(login_token(OLD_LOGIN_SECRET)))
    assert response.status == 200


async def test_target_token_json_shape(client: AppClient) -> None:
    response = await client.post("/v1/targets/freshdesk/token", headers=cookie(login_token()))
    assert response.status == 200
    body = await response.json()
    assert set(body) == {"token", "target", "expires_at"}
    assert body["target"] == "freshdesk"
    assert body["expires_at"] == parts(body["token"])[1]["exp"]
    assert response.headers["Cache-Control"] == "no-store"


async def test_target_token_as_application_jwt(client: AppClient) -> None:
    headers = {**cookie(login_token()), "Accept": "application/jwt"}
    response = await client.get("/v1/targets/chat/token", headers=headers)
    assert response.status == 200
    assert response.content_type == "application/jwt"
    verify_hs256(await response.text(), CHAT_SECRET)
    assert response.headers["Cache-Control"] == "no-store"


async def test_unknown_target_is_404(client: AppClient) -> None:
    status, body = await error_of(client, "/v1/targets/nope/token", cookie(login_token()))
    assert status == 404
    assert isinstance(body, dict)
    assert body["code"] == "target_not_found"


async def test_unknown_target_is_404_even_without_cookie(client: AppClient) -> None:
    status, _ = await error_of(client, "/v1/targets/nope/token", {})
    assert status == 404


async def test_identity_never_comes_from_the_request_body(client: AppClient) -> None:
    response = await client.post(
        "/generate/token",
        headers=cookie(login_token()),
        json={"sub": "victim", "external_id": "victim", "email": "victim@example.com"},
    )
    assert response.status == 200
    _, claims = verify_hs256((await response.json())["token"], CHAT_SECRET)
    assert (claims["external_id"], claims["email"]) == (SUB, EMAIL)


async def test_two_different_login_cookies_are_refused(client: AppClient) -> None:
    other = login_token(sub="someone-else")
    headers = {"Cookie": f"token={login_token()}; token={other}"}
    status, body = await error_of(client, "/generate/token", headers)
    assert status == 401
    assert isinstance(body, dict)
    assert body["code"] == "00-01"


async def test_same_login_cookie_twice_is_fine(client: AppClient) -> None:
    token = login_token()
    response = await client.get(
        "/generate/token", headers={"Cookie": f"token={token}; token={token}"}
    )
    assert response.status == 200


async def test_unknown_route_is_json_404(client: AppClient) -> None:
    status, body = await error_of(client, "/nope", {})
    assert status == 404
    assert isinstance(body, dict)
    assert set(body) == {"code", "description"}


async def test_wrong_method_is_json_405(client: AppClient) -> None:
    response = await client.delete("/generate/token")
    assert response.status == 405
    assert (await response.json())["code"] == "method_not_allowed"


async def test_healthz_and_readyz(client: AppClient) -> None:
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/readyz")).status == 200


async def test_error_bodies_never_echo_the_token(client: AppClient) -> None:
    token = login_token("an-attacker-secret-0123456789abcdef012345")
    response = await client.get("/generate/token", headers=cookie(token))
    text = await response.text()
    assert token not in text
    assert token.split(".")[1] not in text
