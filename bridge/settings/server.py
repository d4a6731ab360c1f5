"""``server``, ``cors``, ``metrics``, ``log``, ``demo`` and ``staff_page``: the gateway's own
HTTP side."""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import Field, field_validator

from bridge.settings.base import Model
from bridge.settings.login import LoginSystemSettings

_ORIGIN = re.compile(r"^https?://[a-z0-9.-]+(:[0-9]{1,5})?$")
#: an http(s) origin, then an optional path prefix of plain segments; nothing else
_PUBLIC_URL = re.compile(
    r"^https?://(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?"
    r"(?:/[A-Za-z0-9._~!$&'()*+,;=:@%-]*)*$"
)


def checked_public_url(value: str) -> str:
    """``value`` without a trailing slash, if it is an http(s) origin with an optional path
    prefix (no user, query or fragment); else ValueError saying what is wrong."""
    if not _PUBLIC_URL.match(value):
        raise ValueError(
            "not an http(s) origin with an optional path prefix, like https://bridge.example.com "
            "or https://example.com/bridge (no user, query or fragment)"
        )
    return value.rstrip("/")


class ServerSettings(Model):
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
    #: the gateway's address as browsers reach it (``https://bridge.example.com``, with an
    #: optional path prefix): every URL the gateway writes for a browser starts with it
    public_url: str | None = None

    @field_validator("public_url")
    @classmethod
    def _public_origin(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return checked_public_url(value)


class CorsSettings(Model):
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


class MetricsSettings(Model):
    enabled: bool = True
    path: str = Field(default="/metrics", pattern=r"^/[A-Za-z0-9_./-]{0,63}$")
    #: serve the metrics on their own port (not the public one); null = on server.port
    port: int | None = Field(default=None, ge=1, le=65535)
    host: str = "127.0.0.1"


class LogSettings(Model):
    #: ``auto``: human-readable when stdout is a terminal, JSON lines otherwise
    format: Literal["auto", "json", "console"] = "auto"
    level: Literal["debug", "info", "warning", "error"] = "info"
    #: one line per answered request (``bridge.access``); health probes only when they fail
    access: bool = True
    #: access lines are written together at least this often (and whenever 128 wait), not
    #: one ``write`` per request; 0 writes each line at once. Other lines are never held back.
    access_flush_seconds: float = Field(default=1.0, ge=0, le=60)


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class DemoSettings(Model):
    """The demo page (``/demo``): it MINTS LOGIN COOKIES, so it is for a development setup only.

    Enabling it needs all of: an HS login system (the cookie is signed with its first secret), a
    loopback ``server.host``, and ``i_understand_this_mints_login_cookies: true``.
    """

    enabled: bool = False
    i_understand_this_mints_login_cookies: bool = False
    #: lifetime of a minted login cookie (seconds)
    login_ttl: int = Field(default=3600, ge=60, le=86400)


def demo_problems(
    demo: DemoSettings, server: ServerSettings | None, system: LoginSystemSettings | None
) -> list[str]:
    """Why the demo may not run with this server and login system (empty when it may).

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
    if system is not None and system.family != "HS":
        problems.append("the demo needs an HS upstream (it signs login cookies with its secret)")
    return problems


class StaffPageSettings(Model):
    """The staff lookup page (``/staff``); it calls the staff API with the caller's own key."""

    enabled: bool = False
