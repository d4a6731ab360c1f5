"""SIGHUP: the configuration and its secrets reloaded under load, without one failed request.

A real ``bridge serve --workers 2`` on a loopback port, its secrets in files next to its config
file (relative paths), and a bounded load of token requests on keep-alive and fresh
connections while the login secret and the widget secret are rotated in two steps. Every
answer must be a 200 whose token verifies (PyJWT-independent check) with the widget secret of
the moment; an invalid new configuration is refused and the old one keeps serving.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from tests.conftest import config, login_token
from tests.ops.test_serve import Gateway
from tests.support.jwtcheck import verify_hs256

LOGIN_A = "rotation-login-secret-A-0123456789abcdef"
LOGIN_B = "rotation-login-secret-B-0123456789abcdef"
CHAT_A = "rotation-chat-secret-A-0123456789abcdef0"
CHAT_B = "rotation-chat-secret-B-0123456789abcdef0"
#: the load stops by itself after this many requests or seconds, whatever the test does
MAX_REQUESTS = 60_000
MAX_SECONDS = 90.0
CLIENTS = 12


def write_config(directory: Path, login_files: list[str], *, chat: str | None = "chat") -> None:
    targets: dict[str, Any] = {
        "chat": {"type": "zendesk_chat", "secret": {"file": f"{chat}.secret"}}
    }
    data = config(
        log={"format": "json"},
        server={"drain_seconds": 1},
        upstream={
            "cookie": "token",
            "algorithms": ["HS256"],
            "secrets": [{"file": name} for name in login_files],
        },
        targets=targets,
        default_target="chat",
        rate_limits={"per_address": None, "per_subject": None},  # one client sends it all
    )
    replace(directory / "config.yaml", yaml.safe_dump(data))


def replace(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` at once (a reader sees the old file or the new one)."""
    part = path.with_suffix(".part")
    part.write_text(text)
    os.replace(part, path)


@dataclasses.dataclass
class Load:
    """Token requests from ``CLIENTS`` loops until ``stop`` (or the bounds) is reached."""

    url: str
    token: str
    chat_secrets: set[str]
    sent: int = 0
    failures: list[str] = dataclasses.field(default_factory=list)
    stop: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    def check(self, status: int, body: str) -> None:
        if status != 200:
            self.failures.append(f"{status} {body[:80]}")
            return
        token = json.loads(body)["token"]
        for secret in self.chat_secrets:
            try:
                verify_hs256(token, secret)
                return
            except AssertionError:
                continue
        self.failures.append("a token signed with none of the expected secrets")

    async def client(self, fresh: bool) -> None:
        connector = aiohttp.TCPConnector(force_close=fresh, limit=2)
        loop = asyncio.get_running_loop()
        give_up = loop.time() + MAX_SECONDS
        async with aiohttp.ClientSession(connector=connector) as session:
            while not self.stop.is_set() and self.sent < MAX_REQUESTS and loop.time() < give_up:
                self.sent += 1
                try:
                    async with session.get(
                        self.url + "/generate/token", headers={"Cookie": f"token={self.token}"}
                    ) as response:
                        self.check(response.status, await response.text())
                except (aiohttp.ClientError, OSError) as exc:
                    self.failures.append(type(exc).__name__)

    def start(self) -> list[asyncio.Task[None]]:
        return [asyncio.create_task(self.client(fresh=i % 3 == 0)) for i in range(CLIENTS)]


async def reloaded(gateway: Gateway, count: int) -> None:
    """Until ``count`` reloads have finished and every replaced worker has exited."""
    await gateway.wait_until(
        lambda: sum(e.startswith("SIGHUP: reloaded") for e in gateway.events()) >= count,
        f"reload {count}",
    )
    await gateway.wait_until(
        lambda: sum(e.endswith("exited with 0") for e in gateway.events()) >= 2 * count,
        f"the workers replaced by reload {count} to exit",
    )


async def status_for(url: str, token: str) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session,
        session.get(url + "/generate/token", headers={"Cookie": f"token={token}"}) as response,
    ):
        return response.status, await response.text()


async def test_secrets_rotate_on_sighup_under_load_without_a_failed_request(
    tmp_path: Path,
) -> None:
    (tmp_path / "login-a.secret").write_text(LOGIN_A + "\n")
    (tmp_path / "chat.secret").write_text(CHAT_A + "\n")
    write_config(tmp_path, ["login-a.secret"])
    gateway = Gateway(tmp_path, workers=2, use_config=True)
    load = Load(gateway.url, login_token(LOGIN_A), {CHAT_A})
    try:
        await gateway.wait_healthy(workers=2)
        first_workers = set(gateway.started())
        tasks = load.start()
        await asyncio.sleep(1.0)

        # step 1: the new login secret is accepted beside the old; the widget secret changes
        (tmp_path / "login-b.secret").write_text(LOGIN_B + "\n")
        load.chat_secrets.add(CHAT_B)
        replace(tmp_path / "chat.secret", CHAT_B + "\n")
        write_config(tmp_path, ["login-b.secret", "login-a.secret"])
        gateway.process.send_signal(signal.SIGHUP)
        await reloaded(gateway, 1)
        assert not first_workers & set(gateway.started()[-2:])
        load.chat_secrets.discard(CHAT_A)  # only the new workers answer now
        await asyncio.sleep(0.5)
        load.token = login_token(LOGIN_B)  # the login system signs with the new secret

        # step 2: the old login secret is dropped
        await asyncio.sleep(0.5)
        write_config(tmp_path, ["login-b.secret"])
        gateway.process.send_signal(signal.SIGHUP)
        await reloaded(gateway, 2)
        await asyncio.sleep(0.5)
        load.stop.set()
        await asyncio.gather(*tasks)

        print(f"SIGHUP rotation under load: {load.sent} requests sent, "
              f"{len(load.failures)} failures")  # fmt: skip
        assert load.failures == []
        assert load.sent >= 1000
        assert (await status_for(gateway.url, login_token(LOGIN_A)))[0] == 401
        status, body = await status_for(gateway.url, login_token(LOGIN_B))
        assert status == 200
        verify_hs256(json.loads(body)["token"], CHAT_B)
        # both generations answered part of the load, and no secret reached the output
        served_by = {line["pid"] for line in gateway.access("/generate/token")}
        assert len(served_by) >= 4
        output = gateway.output.read_text()
        for secret in (LOGIN_A, LOGIN_B, CHAT_A, CHAT_B):
            assert secret not in output
        assert gateway.stopped_cleanly()
    finally:
        load.stop.set()
        gateway.kill()


async def test_an_invalid_new_config_is_refused_and_the_old_one_keeps_serving(
    tmp_path: Path,
) -> None:
    (tmp_path / "login-a.secret").write_text(LOGIN_A)
    (tmp_path / "chat.secret").write_text(CHAT_A)
    write_config(tmp_path, ["login-a.secret"])
    gateway = Gateway(tmp_path, workers=1, use_config=True)
    try:
        await gateway.wait_healthy(workers=1)
        write_config(tmp_path, ["login-a.secret", "missing.secret"], chat="absent")
        gateway.process.send_signal(signal.SIGHUP)
        await gateway.wait_until(
            lambda: any("refused" in e for e in gateway.events()), "the refusal"
        )
        (refusal,) = [line for line in gateway.lines() if "refused" in str(line["event"])]
        assert refusal["level"] == "error"
        assert "2 problem(s)" in refusal["event"]
        assert "upstream.secrets.1: cannot read secret file missing.secret" in refusal["event"]
        assert "targets.chat.secret: cannot read secret file absent.secret" in refusal["event"]
        await asyncio.sleep(0.5)
        assert len(gateway.started()) == 1  # no worker was replaced
        status, body = await status_for(gateway.url, login_token(LOGIN_A))
        assert status == 200
        verify_hs256(json.loads(body)["token"], CHAT_A)
        assert gateway.stopped_cleanly()
    finally:
        gateway.kill()
