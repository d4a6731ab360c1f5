"""The series the alert rules need beyond the request counts: login key fetches by result, and
workers the supervisor restarted."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from bridge.settings.loading import parse_settings
from tests.api.test_login_systems import COOLDOWN, IDP_COOKIE, idp, mint, two_systems
from tests.conftest import ClientFactory
from tests.ops.test_serve import Gateway, fresh_connection_get
from tests.support.fake_idp import FakeIdentityProvider
from tests.support.prom import parse, scrape, value

__all__ = ["idp"]  # the fixture, shared with the login-system tests

FETCHES = "bridge_login_keys_fetches_total"


async def test_key_fetches_are_counted_by_login_system_and_result(
    make_client: ClientFactory, idp: FakeIdentityProvider
) -> None:
    client = await make_client(
        parse_settings(two_systems(idp, keys_refresh_cooldown=COOLDOWN), environ={})
    )
    assert (await mint(client, IDP_COOKIE, idp.token()))[0] == 200
    samples = await scrape(client)
    assert value(samples, FETCHES, login="idp", result="ok") == 1
    assert value(samples, FETCHES, login="idp", result="failed") == 0

    # the provider breaks; a token with a new kid asks for the keys again, and that fails
    idp.jwks_status = 500
    await asyncio.sleep(COOLDOWN)
    idp.rotate(keep_old=True)
    assert (await mint(client, IDP_COOKIE, idp.token()))[0] == 401
    samples = await scrape(client)
    assert value(samples, FETCHES, login="idp", result="ok") == 1
    assert value(samples, FETCHES, login="idp", result="failed") == 1
    # an HS login system publishes no keys, so it has no such series
    assert not [key for key in samples if key[0] == FETCHES and ("login", "shop") in key[1]]


async def test_the_supervisor_counts_the_workers_it_restarts(tmp_path: Path) -> None:
    gateway = Gateway(tmp_path, workers=2)
    try:
        await gateway.wait_healthy(workers=2)
        status, text = await fresh_connection_get(gateway.url + "/metrics")
        assert status == 200
        assert value(parse(text), "bridge_worker_restarts_total") == 0
        assert ("bridge_worker_restarts_total", frozenset()) in parse(text)

        for expected in (1, 2):
            os.kill(gateway.started()[-1], signal.SIGKILL)
            await gateway.wait_until(
                lambda n=expected: len(gateway.started()) == 2 + n, "a replacement worker"
            )
            await gateway.wait_healthy(workers=2 + expected)
            for _ in range(4):  # whichever worker answers the scrape, it reads the same count
                status, text = await fresh_connection_get(gateway.url + "/metrics")
                assert value(parse(text), "bridge_worker_restarts_total") == expected
        assert gateway.stopped_cleanly()
    finally:
        gateway.kill()


async def test_tokens_refused_for_want_of_keys_are_counted_as_the_alert_expects(
    make_client: ClientFactory, idp: FakeIdentityProvider
) -> None:
    """BridgeLoginKeysUnobtainable selects reason="keys_never_fetched"."""
    idp.jwks_status = 500
    client = await make_client(parse_settings(two_systems(idp), environ={}))
    status, body, _ = await mint(client, IDP_COOKIE, idp.token())
    assert (status, body["code"]) == (503, "upstream_keys_unavailable")
    samples = await scrape(client)
    failures = "bridge_token_verification_failures_total"
    assert value(samples, failures, reason="keys_never_fetched") == 1
    assert value(samples, FETCHES, login="idp", result="failed") >= 1
