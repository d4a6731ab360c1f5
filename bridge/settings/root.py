"""The whole configuration file: one section per area, each in its own module.

server, cors, metrics, log, demo, staff_page     bridge.settings.server
upstream, upstreams                              bridge.settings.login
targets, default_target                          bridge.targets.registry (one model per vendor)
redis, cache, rate_limits                        bridge.settings.storage
zendesk_chat_api, zendesk_support_api, staff     bridge.settings.zendesk
lookups                                          bridge.lookups.registry (one model per tool)
"""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator, model_validator

from bridge.lookups.registry import Lookup
from bridge.settings.base import Model, TargetName
from bridge.settings.login import (
    LoginSystemEntry,
    LoginSystemSettings,
    login_name,
    login_problems,
    staff_login_problems,
    subject_prefix_warnings,
)
from bridge.settings.lookups import LookupName
from bridge.settings.server import (
    CorsSettings,
    DemoSettings,
    LogSettings,
    MetricsSettings,
    ServerSettings,
    StaffPageSettings,
    demo_problems,
)
from bridge.settings.storage import CacheSettings, RateLimitSettings, RedisSettings
from bridge.settings.zendesk import StaffSettings, ZendeskChatApiSettings, ZendeskSupportApiSettings
from bridge.targets.registry import Target
from bridge.targets.zendesk_messaging import ZendeskMessagingTarget


class Settings(Model):
    server: ServerSettings = Field(default_factory=ServerSettings)
    #: the one login system; with ``upstreams``, set to its first entry after validation
    upstream: LoginSystemSettings = Field(default=None)  # type: ignore[assignment]  # set after
    #: several login systems, each picked by its ``issuer`` (and ``project_id``)
    upstreams: list[LoginSystemEntry] | None = Field(default=None, min_length=1)
    targets: dict[TargetName, Target] = Field(min_length=1)
    #: what /generate/token mints; may be omitted when there is one target
    default_target: str | None = None
    cors: CorsSettings = Field(default_factory=CorsSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    zendesk_chat_api: ZendeskChatApiSettings | None = None
    zendesk_support_api: ZendeskSupportApiSettings | None = None
    staff: StaffSettings = Field(default_factory=StaffSettings)
    lookups: dict[LookupName, Lookup] = Field(default_factory=dict)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    demo: DemoSettings = Field(default_factory=DemoSettings)
    staff_page: StaffPageSettings = Field(default_factory=StaffPageSettings)

    @field_validator("demo")
    @classmethod
    def _demo_only_for_development(cls, demo: DemoSettings, info: ValidationInfo) -> DemoSettings:
        upstream = info.data.get("upstream") or (info.data.get("upstreams") or [None])[0]
        problems = demo_problems(demo, info.data.get("server"), upstream)
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
    def _one_upstream_form(self) -> Settings:
        if self.upstream is not None and self.upstreams is not None:
            raise ValueError("give upstream (one login system) or upstreams (a list), not both")
        if self.upstreams is not None:
            object.__setattr__(self, "upstream", self.upstreams[0])
        elif self.upstream is None:
            raise ValueError("upstream (or upstreams) is required")
        return self

    @property
    def login_systems(self) -> list[tuple[str, LoginSystemSettings]]:
        """Every login system with its name, in the configured order."""
        if self.upstreams is None:
            return [(login_name(self.upstream, None), self.upstream)]
        return [(login_name(entry, i), entry) for i, entry in enumerate(self.upstreams)]

    @model_validator(mode="after")
    def _default_target_given(self) -> Settings:
        if self.default_target is None:
            if len(self.targets) != 1:
                raise ValueError("default_target is required when there are several targets")
            object.__setattr__(self, "default_target", next(iter(self.targets)))
        if self.targets[self.default].builds.form_only:
            raise ValueError("default_target may not be a zendesk_sso target (it mints no token)")
        return self

    @property
    def staff_login_systems(self) -> frozenset[str]:
        """The login systems whose tokens may be staff logins (default: the first one)."""
        configured = self.staff.login_systems
        return frozenset(configured if configured is not None else [self.login_systems[0][0]])

    def cross_problems(self) -> list[str]:
        """Problems between sections that each validated alone; one line each."""
        logins = self.login_systems
        return login_problems(logins) + staff_login_problems(logins, self.staff.login_systems)

    def warnings(self) -> list[str]:
        """What is valid but probably not meant; one line each (``bridge check-config``)."""
        warnings = subject_prefix_warnings(self.login_systems)
        if not any(entry.emails_verified for _, entry in self.login_systems):
            for name, target in self.targets.items():
                if isinstance(target, ZendeskMessagingTarget) and target.email_verified:
                    warnings.append(
                        f"targets.{name}.email_verified: claimed only for tokens whose "
                        "email_verified is true, as no login system sets emails_verified"
                    )
        if self.server.public_url is None:
            for login, entry in self.login_systems:
                if entry.login_url is not None:
                    where = "upstream" if self.upstreams is None else f"upstreams ({login})"
                    warnings.append(
                        f"{where}.login_url is set without server.public_url: the {{return}} "
                        "URL is built from each request's Host and scheme, which behind a proxy "
                        "or an HTTPS ingress are not what the browser used; set server.public_url"
                    )
        return warnings

    @property
    def default(self) -> str:
        assert self.default_target is not None
        return self.default_target
