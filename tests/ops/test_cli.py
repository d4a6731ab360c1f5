"""The command line: check-config, mint-login-token and serve, as real processes."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import aiohttp
import pytest

from bridge.__main__ import main
from bridge.settings.loading import load_settings
from tests.conftest import CHAT_SECRET, ClientFactory
from tests.support.jwtcheck import verify_hs256

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.example.yaml"

BAD_CONFIG = textwrap.dedent(
    """
    server: {port: not-a-port}
    upstream:
      algorithms: [HS256, RS256]
      secrets:
        - value: too-short
        - env: BRIDGE_TEST_UNSET_VARIABLE
      surprise: 1
    targets:
      chat: {type: zendesk_chat, secret: {value: short}}
      messaging: {type: zendesk_messaging, secret: {value: "0123456789abcdef0123456789abcdef"}}
      zip: {type: zipchat, private_key: {value: "not a key"}}
      fresh: {type: freshdesk, secret: {value: "0123456789abcdef0123456789abcdef", env: X}}
    default_target: missing
    cors: {origins: ["*"]}
    """
)

EXPECTED_PROBLEMS = [
    "server.port",
    "upstream.algorithms: algorithms mix families",
    "upstream.secrets.0: an HMAC secret must be at least 32 bytes",
    "upstream.secrets.1: environment variable BRIDGE_TEST_UNSET_VARIABLE is not set",
    "upstream.surprise: Extra inputs are not permitted",
    "targets.chat.secret: an HMAC secret must be at least 32 bytes",
    "targets.messaging.key_id: Field required",
    "targets.zip.private_key: not a PEM private key",
    "targets.fresh.secret: a secret is exactly one of",
    "default_target: 'missing' is not one of the targets",
    'cors.origins: "*" is not allowed',
]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "bridge", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_config_reports_every_problem_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_CONFIG)
    result = run_cli("check-config", "--config", str(path))
    assert result.returncode == 2
    for expected in EXPECTED_PROBLEMS:
        assert expected in result.stderr, expected
    assert "too-short" not in result.stderr + result.stdout  # values are never echoed


def test_check_config_accepts_the_example() -> None:
    result = run_cli("check-config", "--config", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout
    assert "DEVELOPMENT-ONLY" not in result.stdout


def test_check_config_reads_bridge_config_variable() -> None:
    result = run_cli("check-config", env={"BRIDGE_CONFIG": str(EXAMPLE)})
    assert result.returncode == 0, result.stderr


def test_check_config_missing_file_exits_2(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["check-config", "--config", str(tmp_path / "absent.yaml")])
    assert exc.value.code == 2


def test_check_config_rejects_duplicate_yaml_keys(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(EXAMPLE.read_text() + "\ndefault_target: freshdesk\n")
    result = run_cli("check-config", "--config", str(path))
    assert result.returncode == 2
    assert "duplicate key 'default_target'" in result.stderr


def test_check_config_notes_a_clamped_ttl(tmp_path: Path) -> None:
    path = tmp_path / "clamped.yaml"
    text = EXAMPLE.read_text().replace("ttl: 300 ", "ttl: 3000")
    path.write_text(text.replace("dev/zipchat", str(ROOT / "dev/zipchat")))
    result = run_cli("check-config", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert "ttl 420s (clamped" in result.stdout


def test_the_example_shows_every_target_type_and_its_commented_ones_load(
    tmp_path: Path,
) -> None:
    from bridge.targets.registry import TARGET_TYPES

    lines = EXAMPLE.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if "uncomment the ones the site runs" in line)
    block = []
    for line in lines[start + 1 :]:
        if not line.startswith("  # "):
            break
        block.append("  " + line[4:])
    assert block, "no commented targets follow the marker"
    text = "\n".join([*lines[: start + 1], *block, *lines[start + 1 + len(block) :]])
    path = tmp_path / "every-target.yaml"
    path.write_text(text.replace("dev/zipchat", str(ROOT / "dev/zipchat")))
    environ = {
        "INTERCOM_MESSENGER_SECRET": "intercom-messenger-secret-0123456789abcdef",
        "CRISP_VERIFY_SECRET": "crisp-verify-secret-0123456789",
        "HUBSPOT_ACCESS_TOKEN": "pat-na1-00000000-0000-0000-0000-000000000000",
    }
    settings = load_settings(path, environ=environ)
    assert sorted({target.type for target in settings.targets.values()}) == sorted(TARGET_TYPES)
    # and as shipped, only the trial's targets are on
    assert set(load_settings(EXAMPLE).targets) == {
        "zendesk-chat", "zendesk-messaging", "freshdesk", "zipchat", "help-center"
    }  # fmt: skip


async def test_minted_login_token_is_accepted_by_the_gateway(
    make_client: ClientFactory,
) -> None:
    result = run_cli(
        "mint-login-token", "--sub", "dev-user-1", "--email", "dev@example.com",
        "--config", str(EXAMPLE),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    client = await make_client(load_settings(EXAMPLE))
    response = await client.get("/generate/token", headers={"Cookie": f"token={token}"})
    assert response.status == 200
    secret = "DEVELOPMENT-ONLY-zendesk-chat-secret-0123456789"
    _, claims = verify_hs256((await response.json())["token"], secret)
    assert claims["external_id"] == "dev-user-1"
    assert CHAT_SECRET not in token


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_healthy(url: str, process: subprocess.Popen[str], seconds: float = 20) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(int(seconds * 10)):
            assert process.poll() is None, "the gateway exited early"
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the gateway did not become healthy")


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_serve_runs_the_example_and_stops_on_sigterm(workers: str) -> None:
    port = free_port()
    process = subprocess.Popen(  # noqa: S603, ASYNC220 - a server process we wait on below
        [sys.executable, "-m", "bridge", "serve", "--config", str(EXAMPLE),
         "--port", str(port), "--workers", workers],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        await wait_healthy(f"http://127.0.0.1:{port}/healthz", process)
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/generate/token") as response,
        ):
            assert response.status == 401
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
        assert process.returncode == 0, output
        assert "DEVELOPMENT-ONLY" not in output
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


UPSTREAMS = textwrap.dedent(
    """
    upstreams:
      - issuer: https://login.example
        secrets: [{value: "0123456789abcdef0123456789abcdef"}]
      - name: idp
        issuer: https://idp.example/
        cookie: idp_token
        algorithms: [RS256]
        discovery_url: https://idp.example/.well-known/openid-configuration
    targets:
      chat: {type: zendesk_chat, secret: {value: "0123456789abcdef0123456789abcdef"}}
    """
)


def test_check_config_lists_each_login_system(tmp_path: Path) -> None:
    path = tmp_path / "systems.yaml"
    path.write_text(UPSTREAMS)
    result = run_cli("check-config", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert "upstream upstream-1: HS256, cookie 'token', issuer 'https://login.example'" in (
        result.stdout
    )
    assert "upstream idp: RS256, cookie 'idp_token', issuer 'https://idp.example/'" in result.stdout


CONFUSABLE = textwrap.dedent(
    """
    upstreams:
      - issuer: https://login.example
        secrets: [{value: "0123456789abcdef0123456789abcdef"}]
      - issuer: https://login.example
        cookie: other
      - cookie: third
        secrets: [{value: "0123456789abcdef0123456789abcdef"}]
    targets:
      chat: {type: zendesk_chat, secret: {value: "0123456789abcdef0123456789abcdef"}}
    """
)


def test_check_config_refuses_confusable_login_systems(tmp_path: Path) -> None:
    path = tmp_path / "systems.yaml"
    path.write_text(CONFUSABLE)
    result = run_cli("check-config", "--config", str(path))
    assert result.returncode == 2
    assert "upstreams.1.secrets: HS algorithms need at least one secret" in result.stderr
    assert "upstreams.2.issuer: Field required" in result.stderr
    # once each entry is valid, one issuer twice is refused too
    path.write_text(
        CONFUSABLE.replace(
            "    cookie: other\n",
            "    cookie: other\n"
            + ('    secrets: [{value: "0123456789abcdef0123456789abcdef"}]\n'),
        ).replace("  - cookie: third\n", "  - cookie: third\n    issuer: https://third.example\n")
    )
    result = run_cli("check-config", "--config", str(path))
    assert result.returncode == 2
    assert "upstreams: upstream-1 and upstream-2 have the same issuer" in result.stderr
