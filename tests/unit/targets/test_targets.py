"""Each signer against its vendor's rules (vendors.md), decoded without PyJWT."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.errors import EmailMissing
from bridge.login.identity import Identity
from bridge.targets.base import Signer
from bridge.targets.freshdesk import FreshdeskSigner
from bridge.targets.registry import TARGET_TYPES, build_targets
from bridge.targets.zendesk_chat import ZendeskChatSigner
from bridge.targets.zendesk_messaging import ZendeskMessagingSigner
from bridge.targets.zipchat import ZipchatSigner
from tests.conftest import (
    CHAT_SECRET,
    EMAIL,
    FRESHDESK_SECRET,
    MESSAGING_KEY_ID,
    MESSAGING_SECRET,
    SUB,
    config,
    settings,
    zipchat_private_key,
)
from tests.support.jwtcheck import parts, verify_hs256, verify_rs256

NOW = 1_700_000_000


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def identity(email: str | None = EMAIL, *, verified: bool = False, **claims: Any) -> Identity:
    base: dict[str, Any] = {"sub": SUB, "exp": NOW + 3600}
    if email is not None:
        base["email"] = email
    base.update(claims)
    return Identity(
        sub=SUB, email=email, claims=base, expires_at=NOW + 3600, email_verified=verified
    )


def signers(clock: Clock | None = None, **targets: dict[str, Any]) -> dict[str, Signer]:
    data = config()
    for name, overrides in targets.items():
        data["targets"][name].update(overrides)
    from bridge.settings.loading import parse_settings

    parsed = parse_settings(data, environ={})
    built = build_targets(
        parsed.targets, name_claims=parsed.upstream.name_claims, clock=clock or Clock()
    )
    return {name: s for name, s in built.items() if isinstance(s, Signer)}


def test_zendesk_chat_claims_and_header() -> None:
    signer = signers()["chat"]
    assert isinstance(signer, ZendeskChatSigner)
    minted = signer.sign(identity(name="Ann Lee"))
    header, payload = verify_hs256(minted.token, CHAT_SECRET)
    assert header == {"alg": "HS256", "typ": "JWT"}
    assert payload == {
        "name": "Ann Lee",
        "email": EMAIL,
        "external_id": SUB,
        "iat": NOW,
        "exp": NOW + 300,
    }
    assert minted.expires_at == NOW + 300


def test_zendesk_chat_times_are_integer_seconds_within_zendesk_limits() -> None:
    clock = Clock(NOW + 0.987)
    _, payload = verify_hs256(signers(clock)["chat"].sign(identity()).token, CHAT_SECRET)
    assert type(payload["iat"]) is int
    assert type(payload["exp"]) is int
    assert payload["iat"] == NOW  # seconds, never milliseconds
    assert 0 < payload["exp"] - payload["iat"] <= 7 * 60


def test_zendesk_chat_ttl_is_clamped_to_seven_minutes() -> None:
    signer = signers(chat={"ttl": 3600})["chat"]
    assert signer.clamped
    assert signer.ttl == 420
    _, payload = verify_hs256(signer.sign(identity()).token, CHAT_SECRET)
    assert payload["exp"] - payload["iat"] == 420


def test_zendesk_chat_signs_afresh_on_every_call() -> None:
    clock = Clock()
    signer = signers(clock)["chat"]
    first = signer.sign(identity()).token
    clock.now += 61
    second = signer.sign(identity()).token
    assert first != second
    assert parts(second)[1]["iat"] == NOW + 61


def test_zendesk_chat_without_email_is_email_missing() -> None:
    with pytest.raises(EmailMissing):
        signers()["chat"].sign(identity(email=None))


def test_display_name_falls_back_from_name_to_username_to_email() -> None:
    signer = signers()["chat"]
    assert parts(signer.sign(identity(name="N", username="U")).token)[1]["name"] == "N"
    assert parts(signer.sign(identity(username="U")).token)[1]["name"] == "U"
    assert parts(signer.sign(identity()).token)[1]["name"] == EMAIL


def test_messaging_has_kid_header_and_user_scope() -> None:
    signer = signers()["messaging"]
    assert isinstance(signer, ZendeskMessagingSigner)
    header, payload = verify_hs256(signer.sign(identity(name="Ann")).token, MESSAGING_SECRET)
    assert header == {"alg": "HS256", "typ": "JWT", "kid": MESSAGING_KEY_ID}
    assert payload == {
        "scope": "user",
        "external_id": SUB,
        "name": "Ann",
        "email": EMAIL,
        "exp": NOW + 600,
    }


def test_messaging_without_email_still_signs_and_omits_email() -> None:
    _, payload = verify_hs256(
        signers()["messaging"].sign(identity(email=None)).token, MESSAGING_SECRET
    )
    assert "email" not in payload
    assert "email_verified" not in payload
    assert payload["external_id"] == SUB


def test_messaging_email_verified_only_when_configured() -> None:
    untrusted = parts(signers()["messaging"].sign(identity(verified=True)).token)[1]
    trusted_signer = signers(messaging={"email_verified": True})["messaging"]
    trusted = parts(trusted_signer.sign(identity(verified=True)).token)[1]
    assert "email_verified" not in untrusted
    assert trusted["email_verified"] is True


def test_messaging_never_claims_an_email_verified_that_the_login_did_not_vouch_for() -> None:
    signer = signers(messaging={"email_verified": True})["messaging"]
    payload = parts(signer.sign(identity(verified=False)).token)[1]
    assert payload["email"] == EMAIL
    assert "email_verified" not in payload


def test_freshdesk_claims_and_two_hour_limit() -> None:
    signer = signers(freshdesk={"ttl": 10_000})["freshdesk"]
    assert isinstance(signer, FreshdeskSigner)
    header, payload = verify_hs256(signer.sign(identity(name="Ann")).token, FRESHDESK_SECRET)
    assert header["alg"] == "HS256"
    assert payload == {"name": "Ann", "email": EMAIL, "exp": NOW + 7200}


def test_freshdesk_without_email_is_email_missing() -> None:
    with pytest.raises(EmailMissing):
        signers()["freshdesk"].sign(identity(email=None))


def test_zipchat_is_rs256_with_names_and_attributes() -> None:
    signer = signers()["zipchat"]
    assert isinstance(signer, ZipchatSigner)
    token = signer.sign(
        identity(given_name="Ann", family_name="Lee", username="ann", publisher_id=7)
    ).token
    header, payload = verify_rs256(token, zipchat_private_key().public_key())
    assert header == {"alg": "RS256", "typ": "JWT", "kid": signer.key_id}
    assert payload == {
        "email": EMAIL,
        "first_name": "Ann",
        "last_name": "Lee",
        "additional_attributes": {"username": "ann", "publisher_id": 7},
        "iat": NOW,
        "exp": NOW + 3600,
    }


def test_zipchat_splits_display_name_when_no_given_name() -> None:
    payload = parts(signers()["zipchat"].sign(identity(name="Ann Marie Lee")).token)[1]
    assert payload["first_name"] == "Ann"
    assert payload["last_name"] == "Marie Lee"
    assert "additional_attributes" not in payload


def test_zipchat_ttl_at_most_one_hour() -> None:
    signer = signers(zipchat={"ttl": 7200})["zipchat"]
    payload = parts(signer.sign(identity()).token)[1]
    assert payload["exp"] - payload["iat"] == 3600


def test_zipchat_without_email_is_email_missing() -> None:
    with pytest.raises(EmailMissing):
        signers()["zipchat"].sign(identity(email=None))


def test_signer_repr_holds_no_secret() -> None:
    for signer in signers().values():
        text = repr(signer) + repr(vars(signer))
        for secret in (CHAT_SECRET, MESSAGING_SECRET, FRESHDESK_SECRET):
            assert secret not in text
        assert "PRIVATE KEY" not in text


def test_settings_repr_holds_no_secret() -> None:
    text = repr(settings()) + str(settings())
    for secret in (CHAT_SECRET, MESSAGING_SECRET, FRESHDESK_SECRET):
        assert secret not in text
    assert "PRIVATE KEY" not in text


def chat_signer(clock: Clock) -> ZendeskChatSigner:
    from bridge.settings.base import Secret

    return ZendeskChatSigner(
        "chat", secret=Secret(CHAT_SECRET.encode(), "value"), ttl=None,
        name_claims=["name", "email"], clock=clock,
    )  # fmt: skip


def test_every_call_signs_anew_with_the_current_second() -> None:
    import jwt

    clock = Clock(NOW + 0.1)
    signer = chat_signer(clock)
    who = identity()
    first = signer.sign(who)
    clock.now = NOW + 0.9
    assert signer.sign(who) == first  # the same second and claims: the same bytes
    clock.now = NOW + 1
    again = signer.sign(who)
    assert parts(again.token)[1]["iat"] == NOW + 1
    assert again.expires_at == NOW + 1 + signer.ttl
    assert again.token == jwt.encode(signer.claims(who, NOW + 1), CHAT_SECRET, "HS256")


@pytest.mark.parametrize("name", ["A", "Ab", "Abc", "Abcd", "Zoë Ødegård 王", ""])
def test_split_signing_matches_pyjwt_for_every_prefix_length(name: str) -> None:
    """The identity's part of the payload is encoded once and the rest per token; whatever
    its length modulo 3 (base64's block), the token is what signing it whole gives."""
    import jwt

    clock = Clock(NOW)
    signer = chat_signer(clock)
    who = identity(name=name) if name else identity()
    for second in (NOW, NOW + 1, NOW + 61):
        clock.now = second
        minted = signer.sign(who)
        # the whole payload encoded at once (UTF-8 JSON, as orjson writes it)
        assert minted.token == signer._encode(signer.claims(who, second))
        if name.isascii():  # PyJWT escapes other characters as \\u sequences
            assert minted.token == jwt.encode(signer.claims(who, second), CHAT_SECRET, "HS256")
        assert verify_hs256(minted.token, CHAT_SECRET)[1]["iat"] == second


def test_another_identity_in_the_same_second_is_signed_for_itself() -> None:
    signer = chat_signer(Clock())
    first = signer.sign(identity())
    other = Identity(sub="someone-else", email=EMAIL, claims={}, expires_at=NOW + 60)
    second = signer.sign(other)
    assert parts(second.token)[1]["external_id"] == "someone-else"
    assert parts(first.token)[1]["external_id"] == SUB
    assert first.token != second.token


def test_one_identity_signed_by_two_signers_gets_each_signers_token() -> None:
    """What a signer remembers on an identity is keyed by that signer: two targets (two
    secrets) never share it."""
    import jwt

    from bridge.settings.base import Secret

    who = identity(name="Ann Lee")
    one = chat_signer(Clock())
    two = ZendeskChatSigner(
        "chat-2", secret=Secret(b"another-chat-secret-0123456789abcdef", "value"), ttl=None,
        name_claims=["name", "email"], clock=Clock(),
    )  # fmt: skip
    assert one.sign(who).token == jwt.encode(one.claims(who, NOW), CHAT_SECRET, "HS256")
    token = two.sign(who).token
    assert token == jwt.encode(
        two.claims(who, NOW), "another-chat-secret-0123456789abcdef", "HS256"
    )
    assert verify_hs256(one.sign(who).token, CHAT_SECRET)[1]["name"] == "Ann Lee"


def test_the_registry_knows_every_type_once() -> None:
    assert TARGET_TYPES == (
        "zendesk_chat", "zendesk_messaging", "freshdesk", "zipchat",
        "intercom", "hmac_identity", "hubspot", "zendesk_sso",
    )  # fmt: skip
    # the shared configuration has the four signers; tests/unit/targets/test_more_widgets.py,
    # test_hubspot.py and test_zendesk_sso.py build the others
    assert {signer.type for signer in signers().values()} == set(TARGET_TYPES[:4])


def test_hs256_tokens_are_byte_for_byte_what_pyjwt_makes() -> None:
    import jwt

    chat, messaging = signers()["chat"], signers()["messaging"]
    who = identity(name="Ann Lee")
    assert chat.sign(who).token == jwt.encode(chat.claims(who, NOW), CHAT_SECRET, "HS256")
    assert messaging.sign(who).token == jwt.encode(
        messaging.claims(who, NOW), MESSAGING_SECRET, "HS256", headers={"kid": MESSAGING_KEY_ID}
    )


def test_non_ascii_names_survive_encoding() -> None:
    token = signers()["chat"].sign(identity(name="Zoë Ødegård 王")).token
    assert verify_hs256(token, CHAT_SECRET)[1]["name"] == "Zoë Ødegård 王"
