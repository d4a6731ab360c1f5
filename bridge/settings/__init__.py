"""The configuration: its schema (split by area) and ``load_settings``.

Import from here: ``Settings``, ``load_settings``, ``parse_settings`` and the section models.
"""

from bridge.errors import ConfigError
from bridge.settings.base import Secret, SecretSource
from bridge.settings.loading import format_validation_error, load_settings, parse_settings
from bridge.settings.login import UpstreamSettings, algorithm_family
from bridge.settings.root import Settings
from bridge.settings.server import (
    CorsSettings,
    DemoSettings,
    LogSettings,
    MetricsSettings,
    ServerSettings,
    StaffPageSettings,
    demo_problems,
)
from bridge.settings.storage import (
    CacheSettings,
    RateLimitSettings,
    RateSettings,
    RedisSettings,
    split_host_port,
)
from bridge.settings.zendesk import StaffSettings, ZendeskChatApiSettings, ZendeskSupportApiSettings

__all__ = [
    "CacheSettings",
    "ConfigError",
    "CorsSettings",
    "DemoSettings",
    "LogSettings",
    "MetricsSettings",
    "RateLimitSettings",
    "RateSettings",
    "RedisSettings",
    "Secret",
    "SecretSource",
    "ServerSettings",
    "Settings",
    "StaffPageSettings",
    "StaffSettings",
    "UpstreamSettings",
    "ZendeskChatApiSettings",
    "ZendeskSupportApiSettings",
    "algorithm_family",
    "demo_problems",
    "format_validation_error",
    "load_settings",
    "parse_settings",
    "split_host_port",
]
