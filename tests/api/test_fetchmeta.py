"""Fetch Metadata on the token endpoints: what a browser marks as not a token fetch is a 403."""

from __future__ import annotations

import pytest

from tests.conftest import ORIGIN, AppClient, login_token

#: the token requests as first requests and as repeats (tests.support.ways)
pytestmark = pytest.mark.both_ways

PATHS = ["/generate/token", "/v1/targets/messaging/token"]


def browser(
    site: str, mode: str = "cors", dest: str = "empty", origin: str | None = ORIGIN
) -> dict[str, str]:
    headers = {
        "Cookie": f"token={login_token()}",
        "Sec-Fetch-Site": site,
        "Sec-Fetch-Mode": mode,
        "Sec-Fetch-Dest": dest,
    }
    if origin is not None:
        headers["Origin"] = origin
    return headers


async def assert_refused(client: AppClient, path: str, headers: dict[str, str]) -> None:
    response = await client.get(path, headers=headers)
    assert response.status == 403
    body = await response.json()
    assert body["code"] == "fetch_metadata_refused"
    assert set(body) == {"code", "description"}
    assert "token" not in body


@pytest.mark.parametrize("path", PATHS)
async def test_cross_site_cors_fetch_from_a_listed_origin_gets_a_token(
    client: AppClient, path: str
) -> None:
    response = await client.get(path, headers=browser("cross-site"))
    assert response.status == 200
    assert "token" in await response.json()
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


@pytest.mark.parametrize("site", ["same-origin", "same-site", "none"])
async def test_same_site_and_direct_requests_are_served(client: AppClient, site: str) -> None:
    response = await client.get("/generate/token", headers=browser(site, origin=None))
    assert response.status == 200


async def test_opening_the_url_in_the_browser_is_served(client: AppClient) -> None:
    headers = browser("none", mode="navigate", dest="document", origin=None)
    assert (await client.get("/generate/token", headers=headers)).status == 200


async def test_requests_without_fetch_metadata_are_served(client: AppClient) -> None:
    response = await client.get("/generate/token", headers={"Cookie": f"token={login_token()}"})
    assert response.status == 200


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("mode", "dest", "origin"),
    [
        ("cors", "empty", "https://evil.example"),  # unlisted origin
        ("cors", "empty", None),  # no Origin at all
        ("no-cors", "empty", ORIGIN),  # listed origin, but not CORS mode
        ("navigate", "document", None),  # a link or a form on another site
        ("same-origin", "empty", ORIGIN),
    ],
)
async def test_cross_site_without_cors_from_a_listed_origin_is_403(
    client: AppClient, path: str, mode: str, dest: str, origin: str | None
) -> None:
    await assert_refused(client, path, browser("cross-site", mode, dest, origin))


@pytest.mark.parametrize(
    "dest", ["script", "image", "style", "frame", "iframe", "object", "embed", "worker", "font"]
)
@pytest.mark.parametrize("site", ["same-origin", "cross-site"])
async def test_resource_destinations_are_403_from_anywhere(
    client: AppClient, dest: str, site: str
) -> None:
    """``<script src=/generate/token>`` and friends never get a token (script inclusion)."""
    await assert_refused(client, "/generate/token", browser(site, "no-cors", dest))


async def test_a_refused_post_is_403_and_not_cacheable(client: AppClient) -> None:
    headers = browser("cross-site", "no-cors", "script")
    response = await client.post("/v1/targets/chat/token", headers=headers)
    assert response.status == 403
    assert response.headers["Cache-Control"] == "no-store"


async def test_unknown_target_is_still_404(client: AppClient) -> None:
    response = await client.get("/v1/targets/nope/token", headers=browser("cross-site", "no-cors"))
    assert response.status == 404


async def test_fetch_metadata_values_are_case_insensitive(client: AppClient) -> None:
    await assert_refused(client, "/generate/token", browser("Cross-Site", "no-cors", "SCRIPT"))
