"""The whole configuration file: one section per area, each in its own module.

server, cors, metrics, log, demo, staff_page     bridge.settings.server
upstream                                         bridge.settings.login
targets, default_target                          bridge.targets.registry (one model per vendor)
redis, cache, rate_limits                        bridge.settings.storage
zendesk_chat_api, zendesk_support_api, staff     bridge.settings.zendesk
"""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator, model_validator

from bridge.settings.base import Model, TargetName
from bridge.settings.login import UpstreamSettings
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
        if self.targets[self.default].type == "zendesk_sso":
            raise ValueError("default_target may not be a zendesk_sso target (it mints no token)")
        return self

    @property
    def default(self) -> str:
        assert self.default_target is not None
        return self.default_target
