"""The zendesk_sso signer against Zendesk's JWT SSO rules, decoded without the signer's code."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from bridge.errors import ConfigError, EmailMissing
from bridge.login.identity import Identity
from bridge.settings.loading import parse_settings
from bridge.targets.registry import build_targets
from bridge.targets.zendesk_sso import ZendeskSsoSigner
from tests.conftest import EMAIL, SUB, config
from tests.support.fake_help_center import SSO_SECRET
from tests.support.jwtcheck import b64url_decode, verify_hs256

NOW = 1_700_000_000


def sso_signer(**overrides: Any) -> ZendeskSsoSigner:
    target = {
        "type": "zendesk_sso",
        "base_url": "https://acme.zendesk.com",
        "secret": {"value": SSO_SECRET},
        **overrides,
    }
    data = config()
    data["targets"]["help"] = target
    parsed = parse_settings(data, environ={})
    signer = build_targets(
        parsed.targets, name_claims=parsed.upstream.name_claims, clock=lambda: NOW
    )["help"]
    assert isinstance(signer, ZendeskSsoSigner)
    return signer


def identity(email: str | None = EMAIL, **claims: Any) -> Identity:
    base: dict[str, Any] = {"sub": SUB, "exp": NOW + 3600, **claims}
    if email is not None:
        base["email"] = email
    return Identity(sub=SUB, email=email, claims=base, expires_at=NOW + 3600)


def test_claims_header_and_no_expiry() -> None:
    minted = sso_signer().sign(identity(name="Ann Lee"))
    header, claims = verify_hs256(minted.token, SSO_SECRET)
    assert header == {"alg": "HS256", "typ": "JWT"}
    assert set(claims) == {"iat", "jti", "name", "email", "external_id"}
    assert claims["iat"] == NOW
    assert (claims["name"], claims["email"], claims["external_id"]) == ("Ann Lee", EMAIL, SUB)
    assert minted.expires_at is None


def test_pyjwt_verifies_it_too() -> None:
    token = sso_signer().sign(identity()).token
    claims = jwt.decode(token, SSO_SECRET, algorithms=["HS256"], options={"verify_iat": False})
    assert claims["email"] == EMAIL
    assert claims["name"] == EMAIL  # no name claim: the email, as Zendesk needs a name


def test_jti_is_at_least_128_random_bits_and_new_every_time() -> None:
    signer = sso_signer()
    jtis = [verify_hs256(signer.sign(identity()).token, SSO_SECRET)[1]["jti"] for _ in range(200)]
    assert len(set(jtis)) == 200  # same second, same user: still a new jti
    assert all(len(b64url_decode(jti)) * 8 >= 128 for jti in jtis)


def test_no_email_is_00_03() -> None:
    with pytest.raises(EmailMissing):
        sso_signer().sign(identity(email=None))


def test_mapped_login_claims_become_zendesks_optional_claims() -> None:
    signer = sso_signer(
        claims={
            "organization": "company",
            "tags": "roles",
            "locale_id": "locale",
            "remote_photo_url": "picture",
            "user_fields": {"plan": "plan", "level": "level", "vip": "vip"},
        }
    )
    who = identity(
        company="Acme Games",
        roles=["gold", "beta tester", 7, "eu"],  # a tag with a space or not a string: dropped
        locale="1176",
        picture="https://cdn.example.com/a.png",
        plan="pro",
        level=42,
        vip=True,
    )
    _, claims = verify_hs256(signer.sign(who).token, SSO_SECRET)
    assert claims["organization"] == "Acme Games"
    assert claims["tags"] == ["gold", "eu"]
    assert claims["locale_id"] == 1176
    assert claims["remote_photo_url"] == "https://cdn.example.com/a.png"
    assert claims["user_fields"] == {"plan": "pro", "level": 42, "vip": True}


def test_unusable_mapped_claims_are_left_out() -> None:
    signer = sso_signer(
        claims={
            "organization": "company",
            "locale_id": "locale",
            "remote_photo_url": "picture",
            "user_fields": {"plan": "plan"},
        }
    )
    who = identity(
        company="Acme\u202e", locale="en-US", picture="javascript:alert(1)", plan={"a": 1}
    )
    _, claims = verify_hs256(signer.sign(who).token, SSO_SECRET)
    assert set(claims) == {"iat", "jti", "name", "email", "external_id"}


def test_return_to_hosts_default_to_base_urls_host_and_the_form_goes_to_access_jwt() -> None:
    signer = sso_signer(base_url="https://help.acme.com/")
    assert signer.action == "https://help.acme.com/access/jwt"
    assert signer.origin == "https://help.acme.com"
    assert signer.check_return_to(None) == "https://help.acme.com/"
    assert signer.check_return_to("https://help.acme.com/hc") == "https://help.acme.com/hc"


@pytest.mark.parametrize(
    "overrides",
    [
        {"base_url": "javascript:alert(1)"},
        {"base_url": "https://user@acme.zendesk.com"},
        {"return_to_hosts": ["https://acme.zendesk.com"]},
        {"return_to_hosts": []},
        {"return_to_hosts": ["ACME.zendesk.com"]},
        {"secret": {"value": "too-short"}},
        {"logout_url": "javascript:alert(1)"},
        {"claims": {"user_fields": {"bad key": "plan"}}},
        {"claims": {"unknown": "x"}},
        {"ttl": 60},
    ],
)
def test_invalid_settings_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        sso_signer(**overrides)


def test_a_zendesk_sso_target_cannot_be_the_default_target() -> None:
    data = config(default_target="help")
    data["targets"]["help"] = {
        "type": "zendesk_sso",
        "base_url": "https://acme.zendesk.com",
        "secret": {"value": SSO_SECRET},
    }
    with pytest.raises(ConfigError, match="default_target may not be a zendesk_sso"):
        parse_settings(data, environ={})
