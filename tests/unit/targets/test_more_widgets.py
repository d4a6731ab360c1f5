"""Intercom's JWT and the HMAC identity signatures against the vendors' rules, checked with
code independent of the signers (PyJWT, hashlib's own HMAC)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, get_args

import jwt
import pytest

from bridge.errors import ConfigError, EmailMissing
from bridge.login.identity import Identity
from bridge.settings.loading import parse_settings
from bridge.targets.base import Signer
from bridge.targets.hmac_identity import HmacIdentitySigner
from bridge.targets.intercom import IntercomSigner
from bridge.targets.registry import TARGET_TYPES, Target, build_targets
from tests.conftest import EMAIL, SUB, config

NOW = 1_700_000_000
INTERCOM_SECRET = "test-intercom-messenger-secret-0123456789"
CRISP_SECRET = "test-crisp-secret-0123"


def identity(email: str | None = EMAIL, **claims: Any) -> Identity:
    base: dict[str, Any] = {"sub": SUB, "exp": NOW + 3600}
    if email is not None:
        base["email"] = email
    base.update(claims)
    return Identity(sub=SUB, email=email, claims=base, expires_at=NOW + 3600)


def signer(target: dict[str, Any]) -> Signer:
    parsed = parse_settings(config(targets={"t": target}, default_target="t"), environ={})
    signers = build_targets(parsed.targets, name_claims=["name"], clock=lambda: NOW + 0.5)
    built = signers["t"]
    assert isinstance(built, Signer)
    return built


def intercom(**keys: Any) -> Signer:
    return signer({"type": "intercom", "secret": {"value": INTERCOM_SECRET}, **keys})


def hmac_identity(vendor: str, secret: str = CRISP_SECRET, **keys: Any) -> Signer:
    return signer({"type": "hmac_identity", "vendor": vendor, "secret": {"value": secret}, **keys})


def pyjwt(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        token, INTERCOM_SECRET, algorithms=["HS256"], options={"verify_exp": False}
    )
    return claims


def test_the_new_types_are_registered() -> None:
    assert {"intercom", "hmac_identity", "hubspot"} <= set(TARGET_TYPES)


def test_each_settings_model_names_the_kind_it_builds() -> None:
    # settings validation reads the capability flags from ``builds`` before anything is built
    models = get_args(get_args(Target)[0])
    assert [model.builds.type for model in models] == list(TARGET_TYPES)
    assert [t for t, m in zip(TARGET_TYPES, models, strict=True) if m.builds.form_only] == [
        "zendesk_sso"
    ]
    assert type(intercom()) is IntercomSigner


def test_intercom_token_is_hs256_with_user_id_email_and_exp() -> None:
    s = intercom()
    assert isinstance(s, IntercomSigner)
    minted = s.sign(identity())
    assert jwt.get_unverified_header(minted.token) == {"alg": "HS256", "typ": "JWT"}
    assert pyjwt(minted.token) == {"user_id": SUB, "email": EMAIL, "exp": NOW + 3600}
    assert minted.expires_at == NOW + 3600
    assert minted.extra is None


def test_intercom_token_without_an_email_still_has_user_id() -> None:
    assert pyjwt(intercom().sign(identity(email=None)).token) == {
        "user_id": SUB,
        "exp": NOW + 3600,
    }


def test_intercom_signs_the_chosen_login_claims_as_user_attributes() -> None:
    s = intercom(user_attributes=["plan", "company_id", "absent"])
    claims = pyjwt(s.sign(identity(plan="gold", company_id=42)).token)
    assert claims == {"user_id": SUB, "email": EMAIL, "plan": "gold", "company_id": 42,
                      "exp": NOW + 3600}  # fmt: skip


def test_intercom_user_attributes_cannot_replace_the_identity_claims() -> None:
    with pytest.raises(ConfigError, match="user_id"):
        intercom(user_attributes=["user_id"])


def test_intercom_ttl_is_clamped_to_a_day() -> None:
    s = intercom(ttl=10 * 86400)
    assert (s.ttl, s.clamped) == (86400, True)
    assert pyjwt(s.sign(identity()).token)["exp"] == NOW + 86400


def test_intercom_token_with_the_wrong_secret_does_not_verify() -> None:
    token = intercom().sign(identity()).token
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, INTERCOM_SECRET + "x", algorithms=["HS256"],
                   options={"verify_exp": False})  # fmt: skip


def expected_hex(secret: str, value: str) -> str:
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize("vendor", ["crisp", "helpscout", "front"])
def test_hmac_identity_signs_the_email_by_default(vendor: str) -> None:
    minted = hmac_identity(vendor).sign(identity())
    assert minted.token == expected_hex(CRISP_SECRET, EMAIL)
    assert minted.token == minted.token.lower()
    assert len(minted.token) == 64
    assert minted.expires_at is None
    assert minted.extra == {"identifier": EMAIL}


def test_intercom_legacy_user_hash_signs_the_sub_by_default() -> None:
    minted = hmac_identity("intercom_legacy").sign(identity())
    assert minted.token == expected_hex(CRISP_SECRET, SUB)
    assert minted.extra == {"identifier": SUB}


def test_hmac_identity_identifier_can_be_chosen() -> None:
    assert hmac_identity("intercom_legacy", identifier="email").sign(identity()).extra == {
        "identifier": EMAIL
    }
    minted = hmac_identity("crisp", identifier="sub").sign(identity())
    assert minted.token == expected_hex(CRISP_SECRET, SUB)


def test_hmac_identity_signs_the_exact_email_of_the_login_token() -> None:
    email = "Mixed.Case+tag@Example.COM"
    minted = hmac_identity("front").sign(identity(email=email))
    assert minted.extra == {"identifier": email}
    assert minted.token == expected_hex(CRISP_SECRET, email)


def test_hmac_identity_of_the_email_without_one_is_email_missing() -> None:
    with pytest.raises(EmailMissing):
        hmac_identity("helpscout").sign(identity(email=None))
    # the sub is always there
    assert hmac_identity("intercom_legacy").sign(identity(email=None)).extra == {"identifier": SUB}


def test_hmac_identity_refuses_a_short_secret_and_a_ttl() -> None:
    with pytest.raises(ConfigError, match="at least 16 bytes"):
        hmac_identity("crisp", secret="short")
    with pytest.raises(ConfigError, match="ttl"):
        hmac_identity("crisp", ttl=60)
    with pytest.raises(ConfigError, match="vendor"):
        hmac_identity("olark")


def test_hmac_identity_never_shows_its_secret() -> None:
    s = hmac_identity("crisp")
    assert isinstance(s, HmacIdentitySigner)
    assert CRISP_SECRET not in repr(s)
    assert "never expires" in s.summary()
