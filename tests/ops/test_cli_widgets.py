"""``bridge check-config`` and the more widgets: each vendor's rules, as applied, and the
problems it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bridge.__main__ import main

LOGIN = {"cookie": "token", "secrets": [{"value": "cli-test-login-secret-0123456789abcdef"}]}


def write(tmp_path: Path, targets: dict[str, object]) -> Path:
    first = next(iter(targets))
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump({"upstream": LOGIN, "targets": targets, "default_target": first})
    )
    return path


def check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(["check-config", "--config", str(path)])
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_check_config_names_each_new_vendors_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, {
        "intercom": {"type": "intercom", "secret": {"value": "i" * 40}, "ttl": 999999},
        "crisp": {"type": "hmac_identity", "vendor": "crisp", "secret": {"value": "c" * 32}},
        "legacy": {"type": "hmac_identity", "vendor": "intercom_legacy",
                   "secret": {"value": "l" * 40}},
        "hubspot": {"type": "hubspot", "access_token": {"value": "pat-na1-0123456789"},
                    "ttl": 43200},
    })  # fmt: skip
    code, out = check(path, capsys)
    assert code == 0, out
    assert "target intercom: intercom, ttl 86400s (clamped to the vendor's limit)" in out
    assert "target crisp: hmac_identity (crisp), signs the email; never expires" in out
    assert "target legacy: hmac_identity (intercom_legacy), signs the sub; never expires" in out
    assert "target hubspot: hubspot, ttl 42300s (clamped to the vendor's limit)" in out
    assert "HubSpot issues the token (12 h), reused per user until 900s before it lapses" in out
    assert "pat-na1-0123456789" not in out


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ({"type": "intercom", "secret": {"value": "short"}}, "at least 32 bytes"),
        ({"type": "intercom", "secret": {"value": "i" * 40}, "user_attributes": ["email"]},
         "not a user attribute: email"),
        ({"type": "hmac_identity", "vendor": "front", "secret": {"value": "f" * 8}},
         "front verification secret must be at least 16 bytes"),
        ({"type": "hmac_identity", "vendor": "front", "secret": {"value": "f" * 32}, "ttl": 5},
         "ttl"),
        ({"type": "hubspot", "access_token": {"value": "pat-x"}, "deadline": 60}, "deadline"),
        ({"type": "hubspot", "access_token": {"value": "pat-x"}, "api_base_url": "ftp://x"},
         "http"),
    ],
)  # fmt: skip
def test_check_config_refuses_what_a_vendor_cannot_take(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], target: dict[str, object], problem: str
) -> None:
    code, out = check(write(tmp_path, {"t": target}), capsys)
    assert code == 2
    assert problem in out
