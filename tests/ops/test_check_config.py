"""``bridge check-config`` that helps: the nearest valid key, a mistyped ``type`` that hides
nothing, placeholders and the example's public secrets refused, a missing file explained, and
secret files found next to the config file."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from bridge.__main__ import main
from bridge.errors import ConfigError
from bridge.settings.loading import load_settings, parse_settings
from tests.conftest import config
from tests.ops.test_cli import EXAMPLE, ROOT

SECRET = "a-real-looking-secret-0123456789abcdef"


def check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    """check-config's exit status and its problem lines (the lines after the count)."""
    try:
        code = main(["check-config", "--config", str(path)])
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, [line.strip() for line in captured.err.splitlines()[1:]]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_an_unknown_key_names_the_nearest_valid_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = config()
    data["server"] = {"drain_second": 3}
    data["upstream"]["leewey"] = 5
    data["targets"]["chat"]["tll"] = 60
    data["redis"] = {"zzz": 1}
    code, problems = check(write(tmp_path, yaml.safe_dump(data)), capsys)
    assert code == 2
    assert set(problems) >= {
        "server.drain_second: Extra inputs are not permitted "
        "(unknown key; did you mean 'drain_seconds'?)",
        "upstream.leewey: Extra inputs are not permitted (unknown key; did you mean 'leeway'?)",
        "targets.chat.tll: Extra inputs are not permitted (unknown key; did you mean 'ttl'?)",
    }
    (redis,) = [line for line in problems if line.startswith("redis.zzz")]
    assert "valid here: url, " in redis  # nothing close: the keys it could be


def test_a_mistyped_type_does_not_hide_the_entrys_other_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = config()
    data["targets"]["chat"] = {"type": "zendesk_caht", "secret": {"value": "short"}, "ttl": 0}
    code, problems = check(write(tmp_path, yaml.safe_dump(data)), capsys)
    assert code == 2
    assert problems[0].startswith(
        "targets.chat.type: 'zendesk_caht' is not a target type (zendesk_chat, "
    )
    assert "did you mean 'zendesk_chat'?" in problems[0]
    assert "targets.chat.ttl: Input should be greater than 0" in problems
    assert any(line.startswith("targets.chat.secret: an HMAC secret must be") for line in problems)
    assert "short" not in " ".join(problems)


def test_placeholders_are_refused_in_the_file_and_in_the_secrets_it_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRIDGE_TEST_PLACEHOLDER", "REPLACE-ME-login-project-secret-key-32+bytes")
    (tmp_path / "chat.secret").write_text("REPLACE-ME-chat-visitor-authentication-secret\n")
    data = config(
        zendesk_chat_api={
            "base_url": "https://SUBDOMAIN.zendesk.com/api/v2/chat",
            "token": {"value": SECRET},
        }
    )
    data["upstream"]["secrets"] = [{"env": "BRIDGE_TEST_PLACEHOLDER"}]
    data["targets"]["chat"]["secret"] = {"file": "chat.secret"}
    data["targets"]["freshdesk"]["secret"] = {"value": "REPLACE-ME-freshdesk-0123456789abcdef"}
    code, problems = check(write(tmp_path, yaml.safe_dump(data)), capsys)
    assert code == 2
    replace = "a placeholder (REPLACE-ME...) is left here: put the real value"
    assert sorted(problems) == sorted([
        f"upstream.secrets.0: {replace}",
        f"targets.chat.secret: {replace}",
        f"targets.freshdesk.secret.value: {replace}",
        "zendesk_chat_api.base_url: the placeholder SUBDOMAIN is left here: "
        "put your Zendesk subdomain",
    ])  # fmt: skip


def test_the_examples_development_secrets_are_refused_off_loopback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = EXAMPLE.read_text().replace("host: 127.0.0.1 ", "host: 0.0.0.0   ", 1)
    text = text.replace("enabled: true ", "enabled: false", 1)  # the demo is refused anyway
    path = write(tmp_path, text.replace("dev/zipchat", str(ROOT / "dev/zipchat")))
    code, problems = check(path, capsys)
    assert code == 2
    flagged = {line.split(":")[0] for line in problems}
    assert flagged == {
        "upstream.secrets.0", "targets.zendesk-chat.secret", "targets.zendesk-messaging.secret",
        "targets.freshdesk.secret", "targets.zipchat.private_key", "zendesk_chat_api.token",
        "zendesk_support_api.token", "staff.api_keys.0", "targets.help-center.secret",
    }  # fmt: skip
    assert all("development secret of the example configuration" in line for line in problems)
    # on loopback (the example as it is) they are allowed: it is for a local trial
    assert main(["check-config", "--config", str(EXAMPLE)]) == 0
    # and serve --host 0.0.0.0 with the example is refused the same way
    assert main(["serve", "--config", str(EXAMPLE), "--host", "0.0.0.0"]) == 2  # noqa: S104
    assert "development secret" in capsys.readouterr().err


def test_a_missing_config_file_says_how_to_point_at_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = check(tmp_path / "absent.yaml", capsys)
    assert code == 2
    with pytest.raises(SystemExit):
        main(["check-config", "--config", str(tmp_path / "absent.yaml")])
    err = capsys.readouterr().err
    assert err.startswith(f"{tmp_path / 'absent.yaml'}: no such file. ")
    assert "--config PATH" in err
    assert "BRIDGE_CONFIG" in err


def test_relative_secret_files_resolve_against_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "login").write_text(SECRET + "\n")
    data = config()
    data["upstream"]["secrets"] = [{"file": "secrets/login"}]
    path = write(tmp_path, yaml.safe_dump(data))
    monkeypatch.chdir(ROOT)  # elsewhere than the config file
    settings = load_settings(path)
    assert settings.upstream.secrets[0].secret.reveal() == SECRET.encode()
    with pytest.raises(ConfigError):  # relative to the working directory it is not there
        parse_settings(data, base_dir=ROOT)


def test_parse_settings_alone_leaves_placeholders_to_the_file_loader() -> None:
    data = config(zendesk_chat_api={
        "base_url": "https://SUBDOMAIN.zendesk.com/api/v2/chat", "token": {"value": SECRET},
    })  # fmt: skip
    assert parse_settings(data, environ={}).zendesk_chat_api is not None
    with pytest.raises(ConfigError) as exc:
        parse_settings(data, environ={}, refuse_placeholders=True)
    assert exc.value.problems == [
        "zendesk_chat_api.base_url: the placeholder SUBDOMAIN is left here: "
        "put your Zendesk subdomain"
    ]


def test_identity_settings_are_checked_and_warned_about_on_one_line_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = config()
    first = {**data.pop("upstream"), "issuer": "https://a.example", "name": "a"}
    second = {**first, "issuer": "https://b.example", "name": "b"}
    data["upstreams"] = [first, second]
    data["targets"]["messaging"]["email_verified"] = True
    path = write(tmp_path, yaml.safe_dump(data))
    assert main(["check-config", "--config", str(path)]) == 0
    warnings = [line.strip() for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert warnings == [
        "warning: upstreams: a, b set no subject_prefix: the same sub from two login systems is "
        "one person to every vendor; give each system its own subject_prefix",
        "warning: targets.messaging.email_verified: claimed only for tokens whose email_verified "
        "is true, as no login system sets emails_verified",
    ]

    first["subject_prefix"], second["subject_prefix"] = "a:", "b:"
    first["emails_verified"] = True
    data["staff"] = {"login_group": "support", "login_systems": ["b", "c", "d"]}
    second["subject_prefix"] = "has space"
    code, problems = check(write(tmp_path, yaml.safe_dump(data)), capsys)
    assert code == 2
    assert problems == ["upstreams.1.subject_prefix: String should match pattern "
                        "'^[A-Za-z0-9_.:-]{1,32}$'"]  # fmt: skip
    second["subject_prefix"] = "b:"
    code, problems = check(write(tmp_path, yaml.safe_dump(data)), capsys)
    assert (code, problems) == (2, [
        "staff.login_systems: 'c' is not a login system (a, b)",
        "staff.login_systems: 'd' is not a login system (a, b)",
    ])  # fmt: skip
    del data["staff"]["login_systems"][1:]
    path = write(tmp_path, yaml.safe_dump(data))
    assert main(["check-config", "--config", str(path)]) == 0
    assert "warning" not in capsys.readouterr().err
