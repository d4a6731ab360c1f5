"""The verified login user, and what counts as sane text in a claim."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

T = TypeVar("T")

_MAX_EMAIL_CHARS = 254
_MAX_NAME_CHARS = 255

# control characters (C0, DEL, C1), bidi marks/embeddings/overrides/isolates, line and paragraph
# separators, BOM, and surrogates (which only occur unpaired in a decoded str)
_UNSAFE_CHARS = "\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff\ufeff"
_UNSAFE = re.compile(f"[{_UNSAFE_CHARS}]")
_EMAIL = re.compile(rf"[^\s@{_UNSAFE_CHARS}]+@[^\s@{_UNSAFE_CHARS}]+")


def is_sane_text(value: object, max_chars: int) -> bool:
    """True for a ``str`` of at most ``max_chars`` without control, bidi or surrogate chars."""
    return isinstance(value, str) and len(value) <= max_chars and not _UNSAFE.search(value)


def sane_email(value: object) -> str | None:
    if isinstance(value, str) and len(value) <= _MAX_EMAIL_CHARS and _EMAIL.fullmatch(value):
        return value
    return None


@dataclass(frozen=True, slots=True)
class Identity:
    """The verified login user."""

    sub: str
    #: None when absent, empty, not a sane email string, or said to be unverified
    email: str | None
    #: the verified, strictly parsed payload (read-only)
    claims: Mapping[str, Any]
    #: the login token's ``exp`` (epoch seconds)
    expires_at: int
    #: the short name of the login system that verified the token
    login: str = "default"
    #: that system's display-name claims (its ``name_claims``)
    name_claims: tuple[str, ...] = ("name", "username", "email")
    #: the email is known to be verified (the token says so, or its system verifies every
    #: email): only then may a target claim ``email_verified: true``
    email_verified: bool = False
    #: the Xsolla Login project of the system that verified it (its ``project_id``), if any
    project: str | None = None
    #: display names worked out, by the claim names asked for: an identity lives on in the
    #: verifier's cache for as long as its login token, and every token it mints asks again
    _names: dict[tuple[str, ...], str | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    #: what a signer worked out from this identity alone (:meth:`memo`), by signer
    _memos: dict[object, object] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def memo(self, owner: object, make: Callable[[Identity], T]) -> T:
        """``make(self)``, worked out once per ``owner`` (a signer: its tokens for this
        identity all start the same way) for as long as this identity lives."""
        try:
            return cast(T, self._memos[owner])
        except KeyError:
            found = self._memos[owner] = make(self)
            return found

    def display_name(self, claim_names: Sequence[str]) -> str | None:
        """The first named claim that is a non-empty sane string; ``"email"`` is ``self.email``."""
        key = tuple(claim_names)
        try:
            return self._names[key]
        except KeyError:
            found = self._names[key] = self._display_name(key)
            return found

    def _display_name(self, claim_names: Sequence[str]) -> str | None:
        for name in claim_names:
            value = self.email if name == "email" else self.claims.get(name)
            if isinstance(value, str):
                value = value.strip()
                if value and is_sane_text(value, _MAX_NAME_CHARS):
                    return value
        return None
