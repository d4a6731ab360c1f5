"""Every error the gateway answers on purpose, in one tree.

Domain code raises these; the edge middleware (:mod:`bridge.http.middleware`) turns them into
``{"code": ..., "description": ...}`` JSON answers. Nothing here knows about HTTP except the
``status`` number each class carries, and ``retry_after`` (seconds) where a client should
come back later.

    BridgeError
    ├── TokenError                          the login token could not be used
    │   ├── TokenMissing            401 00-00
    │   ├── TokenInvalid            401 00-01  (``reason`` says why, for logs and metrics only)
    │   ├── SubjectMissing          422 00-02
    │   └── EmailMissing            422 00-03
    ├── KeysUnavailable             503        the login system's keys could never be fetched
    ├── TargetNotFound              404
    ├── SsoOnlyTarget               404        a zendesk_sso target has no token endpoint
    ├── BadReturnTo                 400        return_to is not an allowed http(s) URL
    ├── BadHost                     400        the request's host (or a believed forwarded
    │                                          host or scheme) is not a valid one
    ├── FetchMetadataRefused        403        the browser says this is not a token fetch
    ├── StaffUnauthorized           401        no or wrong staff credentials
    ├── LookupNotConfigured         503        this deployment has no such Zendesk API
    ├── InvalidIdentifier           400        malformed visitor or login-user id
    ├── NotFound                    404        no such route (or a vendor's plain 404)
    │   └── VisitorNotFound         404        Zendesk says no such visitor
    ├── RateLimited                 429
    ├── DemoRefused                 403        the demo answers local direct requests only
    ├── DevelopmentOnly             403        development secrets serve local direct requests only
    ├── InvalidDemoUser             400
    ├── UnsupportedMediaType        415
    └── VendorError                            a vendor API (Zendesk, HubSpot) misbehaved
        ├── VendorBadResponse       502
        │   ├── VendorAuthFailed    502        the vendor refused the gateway's credentials
        │   └── VendorRefusedInput  502        the vendor refused this user's own data (a 4xx)
        ├── VendorUnavailable       503        (``retry_after`` seconds when known)
        │   ├── VendorRateLimited   503        ... the vendor's last answer was a 429
        │   └── CircuitOpen         503        the breaker is open; nothing was called
        └── VendorTimeout           504

Descriptions are fixed, human-readable strings: they never echo input, tokens or secrets.

:class:`ConfigError` stands apart: it stops a start-up (or ``bridge check-config``) and is never
an HTTP answer; so does :class:`ListenError` (the listening address cannot be taken). Three
private signals never leave the module that raises and catches them: a
retryable vendor answer (``bridge.vendors.client``), a failed key fetch
(``bridge.login.keysets``) and a duplicate JSON key (``bridge.login.jws``).
"""

from __future__ import annotations

from typing import Literal

#: where a lookup's answer came from
Source = Literal["cache", "zendesk"]


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` lists every reason, one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  {p}" for p in problems))


class ListenError(Exception):
    """``bridge serve`` cannot listen where it is told to; the message is one line."""


class BridgeError(Exception):
    """Base class: every error the gateway answers on purpose."""

    status: int = 500
    code: str = "internal_error"
    description: str = "Internal error"
    #: seconds after which the client may try again (``Retry-After``); None: not said
    retry_after: int | None = None

    def __init__(
        self,
        description: str | None = None,
        *,
        reason: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        if description is not None:
            self.description = description
        #: a short machine-readable cause for logs and metrics; never shown to the client
        self.reason = reason or self.code
        if retry_after is not None:
            self.retry_after = retry_after
        super().__init__(self.description)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, reason={self.reason!r})"


class TokenError(BridgeError):
    """The login token could not be turned into an identity."""


class TokenMissing(TokenError):
    status = 401
    code = "00-00"
    description = "Token not passed"


class TokenInvalid(TokenError):
    status = 401
    code = "00-01"
    description = "Token is invalid"


class SubjectMissing(TokenError):
    status = 422
    code = "00-02"
    description = '"sub" claim is missed'


class EmailMissing(TokenError):
    status = 422
    code = "00-03"
    description = '"email" claim is missed'


class KeysUnavailable(BridgeError):
    status = 503
    code = "upstream_keys_unavailable"
    description = "The login system's signing keys cannot be fetched right now"
    retry_after = 5


class TargetNotFound(BridgeError):
    status = 404
    code = "target_not_found"
    description = "No such target"


class SsoOnlyTarget(BridgeError):
    status = 404
    code = "sso_only_target"
    description = "This target signs in through /v1/sso/{name}; it has no token endpoint"


class BadReturnTo(BridgeError):
    status = 400
    code = "bad_return_to"
    description = "return_to must be an http(s) URL on one of the help center's hosts"


class BadHost(BridgeError):
    status = 400
    code = "bad_host"
    description = "The request's host is not a valid host name"


class DevelopmentOnly(BridgeError):
    status = 403
    code = "development_only"
    description = (
        "This gateway runs with public development secrets and answers local requests only, "
        "not requests that came through a proxy"
    )


class FetchMetadataRefused(BridgeError):
    status = 403
    code = "fetch_metadata_refused"
    description = "This request may only come from a listed site's script"


class StaffUnauthorized(BridgeError):
    status = 401
    code = "staff_unauthorized"
    description = "Missing or invalid staff credentials"


class LookupNotConfigured(BridgeError):
    status = 503
    code = "lookup_not_configured"
    description = "This lookup is not configured on this gateway"


class InvalidIdentifier(BridgeError):
    status = 400
    code = "invalid_id"
    description = "Malformed identifier"


class NotFound(BridgeError):
    status = 404
    code = "not_found"
    description = "Not found"


class VisitorNotFound(NotFound):
    code = "visitor_not_found"
    description = "No such visitor"

    def __init__(self, *, source: Source) -> None:
        super().__init__(reason=f"not_found_{source}")
        #: where the answer came from, for the audit line
        self.source = source


class RateLimited(BridgeError):
    status = 429
    code = "rate_limited"
    description = "Too many requests"
    retry_after = 1


class DemoRefused(BridgeError):
    status = 403
    code = "demo_local_only"
    description = "The demo answers only direct requests from this machine"


class InvalidDemoUser(BridgeError):
    status = 400
    code = "invalid_demo_user"
    description = "The development user needs a sub; email and name are optional"


class UnsupportedMediaType(BridgeError):
    status = 415
    code = "unsupported_media_type"
    description = "Send the development user as application/json"


class VendorError(BridgeError):
    """A vendor API (Zendesk, HubSpot) did not give a usable answer."""


class VendorBadResponse(VendorError):
    status = 502
    code = "vendor_bad_response"
    description = "The vendor gave an unusable answer"


class VendorAuthFailed(VendorBadResponse):
    code = "vendor_auth_failed"
    description = "The vendor refused the gateway's API credentials"


class VendorRefusedInput(VendorBadResponse):
    """A 4xx about the data sent for one user (HubSpot's 400 for an email it will not take):
    that user's failure, never the vendor's, so it never counts towards the circuit breaker.
    The same code as :class:`VendorBadResponse` for the client."""


class VendorUnavailable(VendorError):
    status = 503
    code = "vendor_unavailable"
    description = "The vendor is unavailable"


class VendorRateLimited(VendorUnavailable):
    code = "vendor_rate_limited"
    description = "The vendor is rate limiting the gateway"


class CircuitOpen(VendorUnavailable):
    code = "vendor_circuit_open"
    description = "The vendor is failing; the gateway is not calling it for a while"


class VendorTimeout(VendorError):
    status = 504
    code = "vendor_timeout"
    description = "The vendor did not answer in time"
