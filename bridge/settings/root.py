"""The whole configuration file: one section per area, each in its own module.

server, cors, metrics, log, demo, staff_page     bridge.settings.server
upstream, upstreams                              bridge.settings.login
targets, default_target                          bridge.targets.registry (one model per vendor)
redis, cache, rate_limits                        bridge.settings.storage
zendesk_chat_api, zendesk_support_api, staff     bridge.settings.zendesk
"""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator, model_validator

from bridge.settings.base import Model, TargetName
from bridge.settings.login import UpstreamEntry, UpstreamSettings, login_name
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


class Settings(Model):
    server: ServerSettings = Field(default_factory=ServerSettings)
    #: the one login system; with ``upstreams``, set to its first entry after validation
    upstream: UpstreamSettings = Field(default=None)  # type: ignore[assignment]  # set after
    #: several login systems, each picked by its ``issuer``
    upstreams: list[UpstreamEntry] | None = Field(default=None, min_length=1)
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

    @field_validator("upstreams")
    @classmethod
    def _distinct_systems(cls, upstreams: list[UpstreamEntry] | None) -> list[UpstreamEntry] | None:
        if upstreams is None:
            return None
        problems = []
        issuers: dict[str, int] = {}
        names: dict[str, int] = {}
        for i, entry in enumerate(upstreams):
            if entry.issuer in issuers:
                problems.append(f"entries {issuers[entry.issuer]} and {i} have the same issuer")
            else:
                issuers[entry.issuer] = i
            name = login_name(entry, i)
            if name in names:
                problems.append(f"entries {names[name]} and {i} have the same name {name!r}")
            names.setdefault(name, i)
        if problems:
            raise ValueError("; ".join(problems))
        return upstreams

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
    def logins(self) -> list[tuple[str, UpstreamSettings]]:
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
        if self.targets[self.default].type == "zendesk_sso":
            raise ValueError("default_target may not be a zendesk_sso target (it mints no token)")
        return self

    @property
    def default(self) -> str:
        assert self.default_target is not None
        return self.default_target
