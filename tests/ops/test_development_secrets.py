"""The example's public development secrets never serve the outside world: refused by
``check-config`` and ``serve`` whenever requests can come from beyond the machine, by
``check-config --production`` always, and, on a loopback gateway that runs with them, every
request that came through a proxy is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge.__main__ import main
from bridge.settings.loading import parse_settings
from bridge.state import FAST_PATH
from tests.conftest import ClientFactory, config, login_token
from tests.ops.test_check_config import check
from tests.ops.test_cli import EXAMPLE, ROOT

FLAGGED = {
    "upstream.secrets.0", "targets.zendesk-chat.secret", "targets.zendesk-messaging.secret",
    "targets.freshdesk.secret", "targets.zipchat.private_key", "zendesk_chat_api.token",
    "zendesk_support_api.token", "staff.api_keys.0", "targets.help-center.secret",
}  # fmt: skip
DEV_STAFF_KEY = "DEVELOPMENT-ONLY-staff-key-0123456789"


def example(tmp_path: Path, **changes: Any) -> Path:
    """The example file on loopback, with ``section.key`` values changed."""
    data = yaml.safe_load(EXAMPLE.read_text())
    data["targets"]["zipchat"]["private_key"] = {"file": str(ROOT / "dev/zipchat-dev-key.pem")}
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        data.setdefault(section, {})[key] = value
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("changes", "because"),
    [
        ({"rate_limits__trusted_proxies": ["127.0.0.1/32"]}, "rate_limits.trusted_proxies is set"),
        ({"server__public_url": "https://bridge.example.com"}, "server.public_url is set"),
    ],
)
def test_a_loopback_listener_behind_a_proxy_or_with_a_public_url_refuses_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], changes: dict[str, Any], because: str
) -> None:
    path = example(tmp_path, **changes)
    code, problems = check(path, capsys)
    assert code == 2
    assert {line.split(":")[0] for line in problems} == FLAGGED  # each named in one line
    assert all(because in line for line in problems)
    with pytest.raises(SystemExit) as exc:  # refused while loading, before any socket
        main(["serve", "--config", str(path)])
    assert exc.value.code == 2
    assert because in capsys.readouterr().err


def test_check_config_production_refuses_them_on_loopback_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = example(tmp_path)
    assert main(["check-config", "--config", str(path)]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["check-config", "--production", "--config", str(path)])
    assert exc.value.code == 2
    lines = [line.strip() for line in capsys.readouterr().err.splitlines()[1:]]
    assert {line.split(":")[0] for line in lines} == FLAGGED | {"demo.enabled"}
    assert all("DEVELOPMENT-ONLY" not in line for line in lines)


def test_check_config_production_passes_a_file_with_real_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config()))
    assert main(["check-config", "--production", "--config", str(path)]) == 0
    assert "valid for production" in capsys.readouterr().out


def test_check_config_warns_when_login_url_is_set_without_public_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = config()
    data["upstream"]["login_url"] = "https://acme.example.com/login?next={return}"
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["check-config", "--config", str(path)]) == 0
    warning = "warning: upstream.login_url is set without server.public_url"
    assert warning in capsys.readouterr().err
    data["server"] = {"public_url": "https://bridge.example.com"}
    path.write_text(yaml.safe_dump(data))
    assert main(["check-config", "--config", str(path)]) == 0
    assert "warning" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "proxied",
    [
        {"X-Forwarded-For": "203.0.113.9"},
        {"Forwarded": "for=203.0.113.9"},
        {"X-Real-IP": "203.0.113.9"},
        {"Via": "1.1 proxy"},
        {"X-Forwarded-Host": "bridge.example.com"},
    ],
)
@pytest.mark.parametrize("path", ["/v1/visitors/9855790.abc", "/generate/token"])
async def test_a_loopback_gateway_with_them_refuses_requests_that_came_through_a_proxy(
    make_client: ClientFactory, proxied: dict[str, str], path: str
) -> None:
    data = config(staff={"api_keys": [{"value": DEV_STAFF_KEY}]})
    client = await make_client(parse_settings(data, environ={}, refuse_placeholders=True))
    headers = {"Authorization": f"Bearer {DEV_STAFF_KEY}", "Cookie": f"token={login_token()}"}
    response = await client.get(path, headers={**headers, **proxied})
    assert response.status == 403
    assert (await response.json())["code"] == "development_only"
    direct = await client.get(path, headers=headers)
    assert direct.status != 403


async def test_a_gateway_with_secrets_of_its_own_serves_proxied_requests(
    make_client: ClientFactory,
) -> None:
    client = await make_client(parse_settings(config(), environ={}, refuse_placeholders=True))
    response = await client.get(
        "/generate/token",
        headers={"Cookie": f"token={login_token()}", "X-Forwarded-For": "203.0.113.9"},
    )
    assert response.status == 200


async def test_the_fast_path_still_answers_their_direct_requests(
    make_client: ClientFactory,
) -> None:
    data = config(staff={"api_keys": [{"value": DEV_STAFF_KEY}]})
    client = await make_client(parse_settings(data, environ={}, refuse_placeholders=True))
    cookie = {"Cookie": f"token={login_token()}"}
    fast = client.app[FAST_PATH]
    for _ in range(2):  # the first verifies the login token; the second is a known one
        assert (await client.get("/generate/token", headers=cookie)).status == 200
    assert fast.answered == 1
    proxied = await client.get("/generate/token", headers={**cookie, "Via": "1.1 proxy"})
    assert proxied.status == 403
    assert fast.answered == 1  # handed to the application, which refused it
