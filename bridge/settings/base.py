"""What every part of the configuration shares: the strict model base, secrets and field types.

Secrets are written as exactly one of ``{value: ...}``, ``{env: NAME}`` or ``{file: PATH}`` and
resolved while the file is validated, so a missing variable or file is reported with the other
problems. A resolved secret is a :class:`Secret`, whose ``repr`` and ``str`` never show the
value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationInfo,
    model_validator,
)

HMAC_MIN_BYTES = 32
RSA_MIN_BITS = 2048


class Secret:
    """A resolved secret. Its value leaves only through :meth:`reveal`."""

    __slots__ = ("_value", "origin")

    def __init__(self, value: bytes, origin: str) -> None:
        self._value = value
        #: where it came from (``env:NAME``, ``file:PATH`` or ``value``); safe to print
        self.origin = origin

    def reveal(self) -> bytes:
        return self._value

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        return f"Secret('**********', origin={self.origin!r})"

    __str__ = __repr__

    def __reduce__(self) -> Any:  # never pickled into a worker or a log by accident
        raise TypeError("secrets are not picklable")


class Model(BaseModel):
    """Strict: unknown keys are errors; frozen once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretSource(Model):
    """Exactly one of ``value``, ``env`` or ``file``; resolved at validation time."""

    value: str | None = Field(default=None, repr=False)
    env: str | None = None
    file: str | None = None
    _secret: Secret = PrivateAttr()

    @model_validator(mode="after")
    def _resolve(self, info: ValidationInfo) -> SecretSource:
        given = [k for k in ("value", "env", "file") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a secret is exactly one of {value: ...}, {env: NAME}, {file: PATH}")
        context: Mapping[str, Any] = info.context or {}
        if self.value is not None:
            raw, origin = self.value.encode(), "value"
        elif self.env is not None:
            environ: Mapping[str, str] = context.get("environ", os.environ)
            if self.env not in environ:
                raise ValueError(f"environment variable {self.env} is not set")
            raw, origin = environ[self.env].encode(), f"env:{self.env}"
        else:
            assert self.file is not None
            path = Path(self.file)
            if not path.is_absolute():
                path = Path(context.get("base_dir", ".")) / path
            try:
                raw = path.read_bytes()
            except OSError as exc:
                raise ValueError(f"cannot read secret file {self.file}: {exc.strerror}") from None
            raw, origin = raw.strip(), f"file:{self.file}"
        if not raw:
            raise ValueError(f"the secret from {origin} is empty")
        self._secret = Secret(raw, origin)
        return self

    @property
    def secret(self) -> Secret:
        return self._secret

    def __repr__(self) -> str:
        return f"SecretSource({self._secret!r})" if hasattr(self, "_secret") else "SecretSource()"


def at_least(minimum: int, what: str) -> AfterValidator:
    """A validator refusing a secret shorter than ``minimum`` bytes, saying where it came from
    and how long it is (never what it is)."""

    def check(source: SecretSource) -> SecretSource:
        if len(source.secret) < minimum:
            raise ValueError(
                f"{what} must be at least {minimum} bytes "
                f"(this one, from {source.secret.origin}, has {len(source.secret)})"
            )
        return source

    return AfterValidator(check)


def load_rsa_private_key(pem: bytes) -> rsa.RSAPrivateKey:
    """Load a PEM RSA private key of at least 2048 bits, or raise ``ValueError``."""
    try:
        key = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise ValueError("not a PEM private key (or it is encrypted)") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the key is not an RSA private key")
    if key.key_size < RSA_MIN_BITS:
        raise ValueError(f"the RSA key has {key.key_size} bits; at least {RSA_MIN_BITS} needed")
    return key


def _check_rsa_key(source: SecretSource) -> SecretSource:
    load_rsa_private_key(source.secret.reveal())
    return source


HmacSecret = Annotated[SecretSource, at_least(HMAC_MIN_BYTES, "an HMAC secret")]
RsaPrivateKeySource = Annotated[SecretSource, AfterValidator(_check_rsa_key)]
ClaimName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
TargetName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")]
_HTTP_URL = re.compile(r"^https?://[^\s/?#]+(/[^\s?#]*)?$")
_ORIGIN = re.compile(r"^https?://[a-z0-9.-]+(:[0-9]{1,5})?$")


def _http_url(value: str) -> str:
    if not _HTTP_URL.match(value):
        raise ValueError("must be an http:// or https:// URL without query or fragment")
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]
_HTTP_URL_WITH_QUERY = re.compile(r"^https?://[^\s/?#@\\]+(/[^\s#\\]*)?$")


def _http_url_with_query(value: str) -> str:
    if not _HTTP_URL_WITH_QUERY.match(value) or not value.isascii():
        raise ValueError("must be an http:// or https:// URL (a query is allowed, no fragment)")
    return value


#: an absolute http(s) URL that may carry a query (a ``{return}`` placeholder, say)
HttpUrlWithQuery = Annotated[str, AfterValidator(_http_url_with_query)]


STAFF_KEY_MIN_BYTES = 16
StaffKey = Annotated[SecretSource, at_least(STAFF_KEY_MIN_BYTES, "a staff API key")]
