"""The configuration file: its schema, its secrets and ``load_settings``.

The YAML is validated with pydantic against a strict schema (unknown keys are errors) and every
problem is reported at once, each with its key path (``targets.chat.secret: ...``).

Secrets are written as exactly one of ``{value: ...}``, ``{env: NAME}`` or ``{file: PATH}`` and
resolved while the file is validated, so a missing variable or file is reported with the others.
A resolved secret is a :class:`Secret`, whose ``repr`` and ``str`` never show the value.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

HMAC_MIN_BYTES = 32
RSA_MIN_BITS = 2048

TARGET_TYPES = ("zendesk_chat", "zendesk_messaging", "freshdesk", "zipchat")

Algorithm = Literal[
    "HS256", "HS384", "HS512",
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
    "ES256", "ES384", "ES512",
]  # fmt: skip


def algorithm_family(alg: str) -> str:
    """``"HS"`` (shared secret), ``"RSA"`` (RS*/PS*, RSA keys) or ``"EC"`` (ES*)."""
    if alg.startswith("HS"):
        return "HS"
    if alg.startswith(("RS", "PS")):
        return "RSA"
    return "EC"


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` lists every reason, one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  {p}" for p in problems))


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


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretSource(_Model):
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


def _check_hmac_length(source: SecretSource) -> SecretSource:
    if len(source.secret) < HMAC_MIN_BYTES:
        raise ValueError(
            f"an HMAC secret must be at least {HMAC_MIN_BYTES} bytes "
            f"(this one, from {source.secret.origin}, has {len(source.secret)})"
        )
    return source


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


HmacSecret = Annotated[SecretSource, AfterValidator(_check_hmac_length)]
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


def _family_of(info: ValidationInfo) -> str | None:
    """The family of the already validated ``algorithms``, or None when they were invalid."""
    algorithms = info.data.get("algorithms")
    families = {algorithm_family(a) for a in algorithms or ()}
    return families.pop() if len(families) == 1 else None


class ServerSettings(_Model):
    host: str = "127.0.0.1"
    port: int = Field(default=8001, ge=0, le=65535)
    #: seconds in-flight requests get to finish after SIGTERM before they are cut off
    shutdown_timeout: float = Field(default=20.0, ge=0, le=600)
    #: seconds an idle keep-alive connection is kept open
    keepalive_timeout: float = Field(default=15.0, ge=0, le=3600)
    #: largest request body accepted (bytes); larger ones get 413
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    #: most header lines per request
    max_headers: int = Field(default=64, ge=8, le=1024)
    #: longest request line (method, path and query) in bytes
    max_line_bytes: int = Field(default=8190, ge=1024, le=65536)
    #: pending connections the kernel queues per worker
    backlog: int = Field(default=1024, ge=16, le=65535)
    #: ``auto`` uses uvloop when it is installed
    event_loop: Literal["auto", "asyncio", "uvloop"] = "auto"
    #: on SIGTERM, seconds of serving with ``Connection: close`` and /readyz 503 before stopping
    drain_seconds: float = Field(default=2.0, ge=0, le=120)


class UpstreamSettings(_Model):
    """How to verify the login system's tokens."""

    cookie: str = Field(default="token", pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
    algorithms: list[Algorithm] = Field(default_factory=lambda: ["HS256"], min_length=1)  # type: ignore[arg-type]
    secrets: list[HmacSecret] = Field(default_factory=list, validate_default=True)
    keys_url: HttpUrl | None = Field(default=None, validate_default=True)
    issuer: str | None = None
    audience: str | list[str] | None = None
    leeway: int = Field(default=30, ge=0, le=600)
    #: login claims tried in order for the display name
    name_claims: list[ClaimName] = Field(
        default_factory=lambda: ["name", "username", "email"], min_length=1
    )
    max_token_bytes: int = Field(default=8192, ge=512, le=65536)
    #: verified tokens remembered (exact token string, until its exp); 0 turns it off
    verify_cache_size: int = Field(default=20000, ge=0, le=1_000_000)
    keys_cache_ttl: int = Field(default=600, ge=10, le=86400)
    keys_refresh_cooldown: int = Field(default=30, ge=1, le=3600)
    keys_timeout: float = Field(default=5.0, gt=0, le=60)

    @field_validator("algorithms")
    @classmethod
    def _one_family(cls, algorithms: list[str]) -> list[str]:
        families = {algorithm_family(a) for a in algorithms}
        if len(families) > 1:
            raise ValueError(
                f"algorithms mix families ({', '.join(sorted(families))}); "
                "use one of [HS256], [RS256] or [ES256]"
            )
        return algorithms

    @field_validator("secrets")
    @classmethod
    def _secrets_for_hs(cls, secrets: list[SecretSource], info: ValidationInfo) -> Any:
        family = _family_of(info)
        if family == "HS" and not secrets:
            raise ValueError("HS algorithms need at least one secret")
        if family not in ("HS", None) and secrets:
            raise ValueError("secrets are only used with HS algorithms; remove them")
        return secrets

    @field_validator("keys_url")
    @classmethod
    def _keys_url_for_rs(cls, keys_url: str | None, info: ValidationInfo) -> str | None:
        family = _family_of(info)
        if family == "HS" and keys_url:
            raise ValueError("keys_url is only used with RS/PS/ES algorithms; remove it")
        if family not in ("HS", None) and not keys_url:
            raise ValueError("RS/PS/ES algorithms need keys_url")
        return keys_url

    @property
    def family(self) -> str:
        return algorithm_family(self.algorithms[0])


class _TargetBase(_Model):
    #: token lifetime in seconds; clamped to the vendor's limit
    ttl: int | None = Field(default=None, gt=0)
    #: overrides ``upstream.name_claims`` for this target
    name_claims: list[ClaimName] | None = None


class ZendeskChatTarget(_TargetBase):
    type: Literal["zendesk_chat"]
    secret: HmacSecret


class ZendeskMessagingTarget(_TargetBase):
    type: Literal["zendesk_messaging"]
    key_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,128}$")
    secret: HmacSecret
    #: send ``email_verified: true``: only when the login system verifies every email
    email_verified: bool = False


class FreshdeskTarget(_TargetBase):
    type: Literal["freshdesk"]
    secret: HmacSecret


class ZipchatTarget(_TargetBase):
    type: Literal["zipchat"]
    private_key: RsaPrivateKeySource
    #: ``kid`` in the header and in /.well-known/jwks.json; default: the key's thumbprint
    key_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,128}$")
    #: login claims copied into ``additional_attributes``
    additional_attributes: list[ClaimName] = Field(default_factory=list)
    first_name_claim: ClaimName = "given_name"
    last_name_claim: ClaimName = "family_name"


Target = Annotated[
    ZendeskChatTarget | ZendeskMessagingTarget | FreshdeskTarget | ZipchatTarget,
    Field(discriminator="type"),
]


class CorsSettings(_Model):
    #: exact origins (scheme://host[:port]) allowed to read tokens with credentials
    origins: list[str] = Field(default_factory=list)
    max_age: int = Field(default=600, ge=0, le=86400)

    @field_validator("origins")
    @classmethod
    def _exact_origins(cls, origins: list[str]) -> list[str]:
        problems = []
        for origin in origins:
            if origin == "*" or "*" in origin:
                problems.append('"*" is not allowed with credentials; list exact origins')
            elif origin.endswith("/"):
                problems.append(f"{origin!r}: an origin has no path; drop the trailing slash")
            elif not _ORIGIN.match(origin):
                problems.append(f"{origin!r} is not an origin like https://shop.example.com")
        if problems:
            raise ValueError("; ".join(problems))
        return origins


#: ``host:port`` or ``[v6]:port``
HostPort = Annotated[
    str, StringConstraints(pattern=r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$")
]


def split_host_port(address: str) -> tuple[str, int]:
    """``"10.0.0.5:26379"`` or ``"[::1]:26379"`` -> (host, port)."""
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


class RedisSentinelSettings(_Model):
    """Redis Sentinel: the master's name and where the sentinels are."""

    master: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    #: ``host:port`` of each sentinel (three or more in production)
    addresses: list[HostPort] = Field(min_length=1)
    #: the sentinels' own ``requirepass``, when they have one
    password: SecretSource | None = None
    db: int = Field(default=0, ge=0, le=15)


class RedisClusterSettings(_Model):
    """Redis Cluster: a few nodes to start from; the rest is discovered."""

    nodes: list[HostPort] = Field(min_length=1)


class RedisSettings(_Model):
    #: redis://, rediss:// or unix:// URL; null (and no sentinel/cluster) = in-process cache
    url: str | None = Field(default=None, pattern=r"^(redis|rediss|unix)://")
    sentinel: RedisSentinelSettings | None = None
    cluster: RedisClusterSettings | None = None
    #: ACL user and password for the Redis servers (a URL may carry them itself instead)
    username: str | None = None
    password: SecretSource | None = None
    #: TLS to the Redis servers in sentinel and cluster mode (a URL says rediss:// instead)
    tls: bool = False
    socket_timeout: float = Field(default=0.3, gt=0, le=10)
    connect_timeout: float = Field(default=0.3, gt=0, le=10)
    #: seconds Redis is skipped after a failure
    breaker_cooldown: float = Field(default=3.0, ge=0, le=300)
    key_prefix: str = Field(default="bridge", pattern=r"^[A-Za-z0-9_.:-]{1,32}$")

    @model_validator(mode="after")
    def _one_topology(self) -> RedisSettings:
        given = [k for k in ("url", "sentinel", "cluster") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of url, sentinel or cluster, not {' and '.join(given)}")
        return self

    @property
    def mode(self) -> Literal["memory", "standalone", "sentinel", "cluster"]:
        if self.sentinel is not None:
            return "sentinel"
        if self.cluster is not None:
            return "cluster"
        return "memory" if self.url is None else "standalone"


class _VendorApiSettings(_Model):
    """How bridge calls a Zendesk API: base URL, token and resilience knobs."""

    base_url: HttpUrl
    token: SecretSource
    #: overall deadline of one lookup, retries included (seconds)
    deadline: float = Field(default=4.0, gt=0, le=60)
    #: retries for 429, 502, 503, 504 and connection errors, within the deadline
    max_retries: int = Field(default=2, ge=0, le=10)
    #: larger answers are refused (502)
    max_body_bytes: int = Field(default=256 * 1024, ge=1024, le=16 * 1024 * 1024)
    #: consecutive failures that open the circuit breaker
    breaker_failures: int = Field(default=5, ge=1, le=1000)
    #: seconds the open breaker answers 503 at once before trying again
    breaker_cooldown: float = Field(default=15.0, gt=0, le=3600)


class ZendeskChatApiSettings(_VendorApiSettings):
    """``https://{subdomain}.zendesk.com/api/v2/chat`` or ``https://www.zopim.com/api/v2``."""


class ZendeskSupportApiSettings(_VendorApiSettings):
    """``https://{subdomain}.zendesk.com``."""

    #: agent email for ``{email}/token:{token}`` Basic auth; null means OAuth Bearer
    email: str | None = None


STAFF_KEY_MIN_BYTES = 16


def _check_staff_key_length(source: SecretSource) -> SecretSource:
    if len(source.secret) < STAFF_KEY_MIN_BYTES:
        raise ValueError(
            f"a staff API key must be at least {STAFF_KEY_MIN_BYTES} bytes "
            f"(this one, from {source.secret.origin}, has {len(source.secret)})"
        )
    return source


StaffKey = Annotated[SecretSource, AfterValidator(_check_staff_key_length)]


class StaffSettings(_Model):
    #: bearer keys for staff tooling; several are all accepted (rotation)
    api_keys: list[StaffKey] = Field(default_factory=list)
    #: login users whose token's ``groups`` has this name are staff too (via the cookie)
    login_group: str | None = None


class MetricsSettings(_Model):
    enabled: bool = True
    path: str = Field(default="/metrics", pattern=r"^/[A-Za-z0-9_./-]{0,63}$")
    #: serve the metrics on their own port (not the public one); null = on server.port
    port: int | None = Field(default=None, ge=1, le=65535)
    host: str = "127.0.0.1"


class LogSettings(_Model):
    #: ``auto``: human-readable when stdout is a terminal, JSON lines otherwise
    format: Literal["auto", "json", "console"] = "auto"
    level: Literal["debug", "info", "warning", "error"] = "info"
    #: one line per answered request (``bridge.access``); health probes only when they fail
    access: bool = True
    #: access lines are written together at least this often (and whenever 64 KiB wait), not
    #: one ``write`` per request; 0 writes each line at once. Other lines are never held back.
    access_flush_seconds: float = Field(default=1.0, ge=0, le=60)


class CacheSettings(_Model):
    visitor_ttl: int = Field(default=300, ge=1, le=86400)
    negative_ttl: int = Field(default=30, ge=1, le=3600)
    max_entries: int = Field(default=10000, ge=1, le=10_000_000)


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class DemoSettings(_Model):
    """The demo page (``/demo``): it MINTS LOGIN COOKIES, so it is for a development setup only.

    Enabling it needs all of: an HS upstream (the cookie is signed with its first secret), a
    loopback ``server.host``, and ``i_understand_this_mints_login_cookies: true``.
    """

    enabled: bool = False
    i_understand_this_mints_login_cookies: bool = False
    #: lifetime of a minted login cookie (seconds)
    login_ttl: int = Field(default=3600, ge=60, le=86400)


def demo_problems(
    demo: DemoSettings, server: ServerSettings | None, upstream: UpstreamSettings | None
) -> list[str]:
    """Why the demo may not run with this server and upstream (empty when it may).

    ``None`` stands for a section that was itself invalid (its problems are reported there).
    """
    if not demo.enabled:
        return []
    problems = []
    if not demo.i_understand_this_mints_login_cookies:
        problems.append(
            "the demo mints login cookies (anyone who reaches it can sign in as anyone); "
            "set i_understand_this_mints_login_cookies: true to enable it"
        )
    if server is not None and not _is_loopback(server.host):
        problems.append(
            f"the demo only runs on a loopback server.host (127.0.0.1, ::1 or localhost), "
            f"not {server.host!r}"
        )
    if upstream is not None and upstream.family != "HS":
        problems.append("the demo needs an HS upstream (it signs login cookies with its secret)")
    return problems


class StaffPageSettings(_Model):
    """The staff lookup page (``/staff``); it calls the staff API with the caller's own key."""

    enabled: bool = False


class RateSettings(_Model):
    """One limit (GCRA): a sustained rate per minute, and how many requests may come at once."""

    per_minute: int = Field(ge=1, le=1_000_000)
    burst: int = Field(default=10, ge=1, le=100_000)


class RateLimitSettings(_Model):
    """Abuse limits, shared through Redis when ``redis.url`` is set; ``null`` turns one off."""

    #: token endpoints, per client address (IPv6: per ``ipv6_prefix``)
    per_address: RateSettings | None = Field(
        default_factory=lambda: RateSettings(per_minute=300, burst=100)
    )
    #: token endpoints, per verified login subject
    per_subject: RateSettings | None = Field(
        default_factory=lambda: RateSettings(per_minute=60, burst=20)
    )
    #: staff lookups, per staff key (or staff login)
    per_staff_key: RateSettings | None = Field(
        default_factory=lambda: RateSettings(per_minute=600, burst=100)
    )
    #: proxies (CIDRs) whose ``X-Forwarded-For`` is believed; nobody else's is
    trusted_proxies: list[IPvAnyNetwork] = Field(default_factory=list)
    #: IPv6 clients are counted per network of this prefix length (a /64 is one subscriber)
    ipv6_prefix: int = Field(default=64, ge=32, le=128)
    #: in-process limits: at most this many addresses or subjects remembered per limit
    max_tracked: int = Field(default=100_000, ge=100, le=10_000_000)


class Settings(_Model):
    server: ServerSettings = Field(default_factory=ServerSettings)
    upstream: UpstreamSettings
    targets: dict[TargetName, Target] = Field(min_length=1)
    #: what /generate/token mints; may be omitted when there is one target
    default_target: str | None = None
    cors: CorsSettings = Field(default_factory=CorsSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    zendesk_chat_api: ZendeskChatApiSettings | None = None
    zendesk_support_api: ZendeskSupportApiSettings | None = None
    staff: StaffSettings = Field(default_factory=StaffSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    demo: DemoSettings = Field(default_factory=DemoSettings)
    staff_page: StaffPageSettings = Field(default_factory=StaffPageSettings)

    @field_validator("demo")
    @classmethod
    def _demo_only_for_development(cls, demo: DemoSettings, info: ValidationInfo) -> DemoSettings:
        problems = demo_problems(demo, info.data.get("server"), info.data.get("upstream"))
        if problems:
            raise ValueError("; ".join(problems))
        return demo

    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)

    @field_validator("default_target")
    @classmethod
    def _known_target(cls, value: str | None, info: ValidationInfo) -> str | None:
        # the raw names, so that a typo is reported even when a target itself is invalid
        targets = (info.context or {}).get("target_names", info.data.get("targets"))
        if value is not None and targets is not None and value not in targets:
            raise ValueError(f"{value!r} is not one of the targets ({', '.join(sorted(targets))})")
        return value

    @model_validator(mode="after")
    def _default_target_given(self) -> Settings:
        if self.default_target is None:
            if len(self.targets) != 1:
                raise ValueError("default_target is required when there are several targets")
            object.__setattr__(self, "default_target", next(iter(self.targets)))
        return self

    @property
    def default(self) -> str:
        assert self.default_target is not None
        return self.default_target


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of keeping the last one."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return dict(loader.construct_pairs(node))


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def _location(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for i, part in enumerate(loc):
        # discriminated unions add the tag to the path: targets.chat.zendesk_chat.secret
        if i == 2 and loc[0] == "targets" and part in TARGET_TYPES:
            continue
        if isinstance(part, str) and part.startswith("function-"):
            continue
        parts.append(str(part))
    return ".".join(parts) or "(top level)"


def format_validation_error(exc: ValidationError) -> list[str]:
    """One ``path: message`` line per problem; never includes the offending input."""
    problems = []
    for err in exc.errors(include_input=False, include_url=False):
        message = err["msg"].removeprefix("Value error, ")
        problems.append(f"{_location(err['loc'])}: {message}")
    return problems


def parse_settings(
    data: Any, *, base_dir: Path | str = ".", environ: Mapping[str, str] | None = None
) -> Settings:
    """Validate already-parsed YAML; raise :class:`ConfigError` listing every problem."""
    if not isinstance(data, dict):
        raise ConfigError(["(top level): the configuration must be a mapping"])
    context: dict[str, Any] = {
        "base_dir": Path(base_dir),
        "environ": os.environ if environ is None else environ,
    }
    if isinstance(data.get("targets"), dict):
        context["target_names"] = set(data["targets"])
    try:
        return Settings.model_validate(data, context=context)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None


def load_settings(path: Path | str, *, environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the YAML file at ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: {exc.strerror}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: not UTF-8 text"]) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: invalid YAML: {exc}"]) from None
    return parse_settings(data, base_dir=path.parent, environ=environ)
