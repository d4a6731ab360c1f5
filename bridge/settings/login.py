"""``upstream`` (or ``upstreams``, several of them): how login systems' tokens are verified."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from bridge.settings.base import (
    ClaimName,
    HmacSecret,
    HttpUrl,
    HttpUrlWithQuery,
    Model,
    SecretSource,
)

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


def _family_of(info: ValidationInfo) -> str | None:
    """The family of the already validated ``algorithms``, or None when they were invalid."""
    algorithms = info.data.get("algorithms")
    families = {algorithm_family(a) for a in algorithms or ()}
    return families.pop() if len(families) == 1 else None


#: a login system's short name, as metrics and access lines give it
LoginName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
#: an Xsolla Login project's ID: a UUID, lowercase as Xsolla writes it in its tokens
ProjectId = Annotated[
    str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
]
#: the claim of Xsolla Login's tokens that names their project
PROJECT_CLAIM = "xsolla_login_project_id"
#: in ``keys_url``, replaced by the entry's ``project_id``
PROJECT_PLACEHOLDER = "{project_id}"
#: what a login system's subjects start with, to keep them apart from other systems'
SubjectPrefix = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,32}$")]


class LoginSystemSettings(Model):
    """How to verify one login system's tokens (the ``upstream`` or an ``upstreams`` entry)."""

    #: names the system in metrics and access lines; default ``default`` (``upstream``) or
    #: ``upstream-<n>`` (the n-th ``upstreams`` entry, from 1)
    name: LoginName | None = None
    cookie: str = Field(default="token", pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
    algorithms: list[Algorithm] = Field(default_factory=lambda: ["HS256"], min_length=1)  # type: ignore[arg-type]
    secrets: list[HmacSecret] = Field(default_factory=list, validate_default=True)
    #: an OpenID Connect discovery document, whose ``jwks_uri`` gives the keys
    discovery_url: HttpUrl | None = Field(default=None, validate_default=True)
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
    #: where a visitor without a login is sent by /v1/sso/; ``{return}`` becomes the request's URL
    login_url: HttpUrlWithQuery | None = None
    #: prepended to this system's ``sub`` everywhere the gateway uses it (vendor user ids,
    #: external ids, HMAC identifiers, rate limits, logs)
    subject_prefix: SubjectPrefix | None = None
    #: every email this system issues is verified: targets may claim ``email_verified: true``
    emails_verified: bool = False
    #: an Xsolla Login project: its tokens' ``xsolla_login_project_id`` must equal it
    project_id: ProjectId | None = None

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

    @field_validator("discovery_url")
    @classmethod
    def _discovery_for_rs(cls, discovery_url: str | None, info: ValidationInfo) -> str | None:
        if _family_of(info) == "HS" and discovery_url:
            raise ValueError("discovery_url is only used with RS/PS/ES algorithms; remove it")
        return discovery_url

    @field_validator("keys_url")
    @classmethod
    def _keys_url_for_rs(cls, keys_url: str | None, info: ValidationInfo) -> str | None:
        family = _family_of(info)
        if family == "HS" and keys_url:
            raise ValueError("keys_url is only used with RS/PS/ES algorithms; remove it")
        if "discovery_url" not in info.data:  # itself invalid, and reported there
            return keys_url
        discovery_url = info.data["discovery_url"]
        if keys_url and discovery_url:
            raise ValueError("give keys_url or discovery_url, not both")
        if family not in ("HS", None) and not keys_url and not discovery_url:
            raise ValueError("RS/PS/ES algorithms need keys_url (or discovery_url)")
        return keys_url

    @model_validator(mode="after")
    def _issuer_for_discovery(self) -> LoginSystemSettings:
        if self.discovery_url is not None and self.issuer is None:
            raise ValueError("discovery_url needs issuer: the document's issuer must equal it")
        return self

    @model_validator(mode="after")
    def _project_for_placeholder(self) -> LoginSystemSettings:
        if self.keys_url and PROJECT_PLACEHOLDER in self.keys_url and self.project_id is None:
            raise ValueError("keys_url names {project_id}: set project_id")
        return self

    @property
    def family(self) -> str:
        return algorithm_family(self.algorithms[0])

    @property
    def key_source(self) -> str | None:
        """Where the published keys come from: ``keys_url`` (its ``{project_id}`` filled in) or
        ``discovery_url`` (None: HS)."""
        if self.keys_url and self.project_id is not None:
            return self.keys_url.replace(PROJECT_PLACEHOLDER, self.project_id)
        return self.keys_url or self.discovery_url


class LoginSystemEntry(LoginSystemSettings):
    """One entry of ``upstreams``: the same keys, with ``issuer`` required (it picks the entry)."""

    issuer: str = Field(min_length=1)


def login_name(entry: LoginSystemSettings, index: int | None) -> str:
    """The system's configured ``name``, else ``default`` (``upstream``) or ``upstream-<n>``
    (the ``index``-th entry of ``upstreams``, counted from 1 in the name)."""
    if entry.name is not None:
        return entry.name
    return "default" if index is None else f"upstream-{index + 1}"


#: the login systems with their names, in the configured order
NamedLoginSystems = Sequence[tuple[str, LoginSystemSettings]]


def subject_prefix_warnings(logins: NamedLoginSystems) -> list[str]:
    """Why subjects of several login systems may collide: a system without ``subject_prefix``,
    or one prefix that starts another (``a`` + ``b1`` is ``ab`` + ``1``); one line each."""
    if len(logins) < 2:
        return []
    warnings = []
    bare = [name for name, entry in logins if entry.subject_prefix is None]
    if bare:
        warnings.append(
            f"upstreams: {', '.join(bare)} set no subject_prefix: the same sub from two login "
            "systems is one person to every vendor; give each system its own subject_prefix"
        )
    prefixed = [(name, entry.subject_prefix) for name, entry in logins if entry.subject_prefix]
    for i, (name, prefix) in enumerate(prefixed):
        for other, other_prefix in prefixed[i + 1 :]:
            if prefix.startswith(other_prefix) or other_prefix.startswith(prefix):
                warnings.append(
                    f"upstreams: the subject_prefix of {name} and {other} can give the same "
                    "subject; use prefixes that do not start one another (end each with ':')"
                )
    return warnings


def login_problems(logins: NamedLoginSystems) -> list[str]:
    """Login systems that cannot be told apart: one ``name`` twice, one project twice, or one
    ``issuer`` shared by entries without distinct project ids; one line each."""
    problems = []
    names: dict[str, int] = {}
    projects: dict[str, str] = {}
    by_issuer: dict[str | None, list[tuple[str, LoginSystemSettings]]] = {}
    for index, (name, entry) in enumerate(logins):
        if name in names:
            problems.append(
                f"upstreams: entries {names[name]} and {index} have the same name {name!r}"
            )
        names.setdefault(name, index)
        if entry.project_id is not None:
            if entry.project_id in projects:
                problems.append(
                    f"upstreams: {projects[entry.project_id]} and {name} have the same project_id"
                )
            projects.setdefault(entry.project_id, name)
        by_issuer.setdefault(entry.issuer, []).append((name, entry))
    for issuer, entries in by_issuer.items():
        for i, (name, entry) in enumerate(entries):
            for other, other_entry in entries[i + 1 :]:
                if entry.project_id is None or other_entry.project_id is None:
                    problems.append(
                        f"upstreams: {name} and {other} have the same issuer {issuer!r}; "
                        "entries may share an issuer only when each sets its own project_id"
                    )
    return problems


def staff_login_problems(
    logins: NamedLoginSystems, staff_systems: Sequence[str] | None
) -> list[str]:
    """``staff.login_systems`` naming a login system that is not configured; one line each."""
    names = [name for name, _ in logins]
    return [
        f"staff.login_systems: {system!r} is not a login system ({', '.join(names)})"
        for system in staff_systems or ()
        if system not in names
    ]
