"""``GET /``: a small useful answer for a person who opens the gateway's address."""

from __future__ import annotations

from tests.conftest import AppClient


async def test_the_root_says_what_this_is_and_where_to_go(client: AppClient) -> None:
    response = await client.get("/")
    assert response.status == 200
    body = await response.json()
    assert body["service"] == "bridge"
    links = body["links"]
    assert links["script"] == "/static/bridge.js"
    for path in (links["script"], links["health"], links["readiness"], links["keys"]):
        assert (await client.get(path)).status == 200, path


async def test_the_root_says_nothing_of_the_configuration(client: AppClient) -> None:
    text = await (await client.get("/")).text()
    for configured in ("chat", "messaging", "freshdesk", "zipchat", "0.1.0"):
        assert configured not in text
