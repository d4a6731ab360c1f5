"""The configuration schema on its own: every area's rules, secrets, and how problems read."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest

from bridge.errors import ConfigError
from bridge.settings.base import Secret
from bridge.settings.loading import load_settings, parse_settings
from bridge.settings.root import Settings
from tests.conftest import CHAT_SECRET, LOGIN_SECRET, config, zipchat_pem


def problems(data: dict[str, Any], **kwargs: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_settings(data, environ=kwargs.pop("environ", {}), **kwargs)
    return caught.value.problems


def test_the_shared_test_configuration_is_valid() -> None:
    settings = parse_settings(config(), environ={})
    assert isinstance(settings, Settings)
    assert settings.default == "chat"
    assert settings.upstream.family == "HS"


def test_every_problem_is_reported_at_once_with_its_path() -> None:
    data = config(server={"port": 70000}, cors={"origins": ["*"]}, nonsense=1)
    data["targets"]["chat"]["secret"] = {"value": "short"}
    found = problems(data)
    assert any(p.startswith("server.port:") for p in found)
    assert any(p.startswith("cors.origins:") and '"*"' in p for p in found)
    assert any(p.startswith("nonsense:") for p in found)
    # the target's type is not part of the path
    assert any(p.startswith("targets.chat.secret:") for p in found)


def test_problems_never_echo_the_offending_value() -> None:
    data = config()
    data["targets"]["chat"]["secret"] = {"value": "s3cr3t-but-too-short"}
    data["upstream"]["leeway"] = "s3cr3t-as-a-number"
    text = "\n".join(problems(data))
    assert "s3cr3t" not in text


def test_unknown_keys_are_errors_in_every_section() -> None:
    data = config()
    data["upstream"]["cookies"] = "token"
    data["targets"]["messaging"]["keyid"] = "x"
    found = problems(data)
    assert any(p.startswith("upstream.cookies:") for p in found)
    assert any(p.startswith("targets.messaging.keyid:") for p in found)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ({"value": "x" * 40, "env": "A"}, "exactly one of"),
        ({}, "exactly one of"),
        ({"env": "NOT_SET"}, "environment variable NOT_SET is not set"),
        ({"file": "/nonexistent/secret"}, "cannot read secret file"),
        ({"value": ""}, "is empty"),
        ({"value": "x" * 31}, "at least 32 bytes"),
    ],
)
def test_secret_sources(source: dict[str, str], expected: str) -> None:
    data = config()
    data["targets"]["chat"]["secret"] = source
    [problem] = problems(data)
    assert problem.startswith("targets.chat.secret")
    assert expected in problem


def test_secrets_come_from_the_environment_and_relative_files(tmp_path: Path) -> None:
    (tmp_path / "chat.secret").write_text(CHAT_SECRET + "\n")
    data = config()
    data["targets"]["chat"]["secret"] = {"file": "chat.secret"}
    data["upstream"]["secrets"] = [{"env": "LOGIN"}]
    settings = parse_settings(data, base_dir=tmp_path, environ={"LOGIN": LOGIN_SECRET})
    chat = settings.targets["chat"]
    assert chat.secret.secret.reveal() == CHAT_SECRET.encode()  # type: ignore[union-attr]
    assert chat.secret.secret.origin == "file:chat.secret"  # type: ignore[union-attr]
    assert settings.upstream.secrets[0].secret.origin == "env:LOGIN"


def test_a_secret_never_prints_and_never_pickles() -> None:
    secret = Secret(b"the-value-itself", "value")
    assert "the-value-itself" not in repr(secret) + str(secret)
    with pytest.raises(TypeError):
        pickle.dumps(secret)


def test_algorithms_are_one_family_with_the_matching_keys() -> None:
    mixed = config()
    mixed["upstream"]["algorithms"] = ["HS256", "RS256"]
    assert any("mix families" in p for p in problems(mixed))
    rs_with_secrets = config()
    rs_with_secrets["upstream"]["algorithms"] = ["RS256"]
    found = problems(rs_with_secrets)
    assert any(p.startswith("upstream.secrets:") for p in found)
    assert any(p.startswith("upstream.keys_url:") and "need keys_url" in p for p in found)
    hs_without = config()
    hs_without["upstream"]["secrets"] = []
    assert any("at least one secret" in p for p in problems(hs_without))


def test_keys_url_must_be_http_without_query() -> None:
    data = config()
    data["upstream"] = {"algorithms": ["RS256"], "keys_url": "https://login.example/keys?x=1"}
    assert any(p.startswith("upstream.keys_url:") for p in problems(data))
    data["upstream"]["keys_url"] = "https://login.example/keys"
    assert parse_settings(data, environ={}).upstream.keys_url == "https://login.example/keys"


def test_a_mistyped_target_type_names_the_valid_ones() -> None:
    data = config()
    data["targets"]["chat"]["type"] = "zendesk_chatt"
    [problem] = problems(data)
    assert problem.startswith("targets.chat")
    for name in ("zendesk_chat", "zendesk_messaging", "freshdesk", "zipchat"):
        assert name in problem


def test_target_names_and_default_target() -> None:
    data = config(default_target="nope")
    assert any("'nope' is not one of the targets" in p for p in problems(data))
    several = config()
    del several["default_target"]
    assert any("default_target is required" in p for p in problems(several))
    one = config(targets={"only": {"type": "zendesk_chat", "secret": {"value": CHAT_SECRET}}})
    del one["default_target"]
    assert parse_settings(one, environ={}).default == "only"
    bad_name = config(targets={"has space": {"type": "zendesk_chat", "secret": {"value": "x"}}})
    assert any(p.startswith("targets.has space") for p in problems(bad_name))


def test_zipchat_needs_a_real_rsa_key_of_2048_bits() -> None:
    data = config()
    data["targets"]["zipchat"]["private_key"] = {"value": "-----BEGIN PRIVATE KEY-----\nxx"}
    [problem] = problems(data)
    assert "not a PEM private key" in problem
    data["targets"]["zipchat"]["private_key"] = {"value": zipchat_pem()}
    assert parse_settings(data, environ={}).targets["zipchat"].type == "zipchat"


@pytest.mark.parametrize(
    ("origin", "expected"),
    [
        ("*", '"*" is not allowed'),
        ("https://shop.example.com/", "trailing slash"),
        ("shop.example.com", "is not an origin"),
    ],
)
def test_cors_origins_are_exact(origin: str, expected: str) -> None:
    [problem] = problems(config(cors={"origins": [origin]}))
    assert expected in problem


def test_redis_takes_one_topology() -> None:
    data = config(redis={"url": "redis://127.0.0.1:6379/0", "cluster": {"nodes": ["a:1"]}})
    assert any("give one of url, sentinel or cluster" in p for p in problems(data))
    assert parse_settings(config(), environ={}).redis.mode == "memory"


def test_the_demo_is_refused_outside_development() -> None:
    found = problems(config(demo={"enabled": True}, server={"host": "0.0.0.0"}))  # noqa: S104
    [demo] = [p for p in found if p.startswith("demo:")]
    assert "i_understand_this_mints_login_cookies" in demo
    assert "loopback" in demo


def test_the_file_must_be_utf8_yaml_mapping_without_duplicate_keys(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(b"\xff\xfe")
    assert "not UTF-8" in load_problems(path)[0]
    path.write_text("- a list\n")
    assert "must be a mapping" in load_problems(path)[0]
    path.write_text("server: {}\nserver: {}\n")
    assert "duplicate key 'server'" in load_problems(path)[0]
    path.write_text("server: [\n")
    assert "invalid YAML" in load_problems(path)[0]
    assert load_problems(tmp_path / "absent.yaml")[0].endswith("No such file or directory")


def load_problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    return caught.value.problems
