"""The gateway's error hierarchy.

Domain code raises these; one middleware (``middlewares.edge_middleware``) turns them into
``{"code": ..., "description": ...}`` JSON answers. Nothing below knows about HTTP except the
``status`` number each class carries.

    BridgeError
    ├── TokenError                      the login token could not be used (token endpoints)
    │   ├── TokenMissing        401 00-00
    │   ├── TokenInvalid        401 00-01  (``reason`` says why, for logs and metrics only)
    │   ├── SubjectMissing      422 00-02
    │   └── EmailMissing        422 00-03
    ├── KeysUnavailable         503        the login system's keys could never be fetched
    ├── TargetNotFound          404
    ├── StaffUnauthorized       401        no or wrong staff credentials
    ├── InvalidIdentifier       400        malformed visitor or login-user id
    ├── NotFound                404        no such visitor / route
    ├── MethodNotAllowed        405
    ├── RateLimited             429
    └── VendorError                        Zendesk (or another vendor) misbehaved
        ├── VendorBadResponse   502
        ├── VendorUnavailable   503        (``retry_after`` seconds when known)
        └── VendorTimeout       504

Descriptions are fixed, human-readable strings: they never echo input, tokens or secrets.
"""

from __future__ import annotations


class BridgeError(Exception):
    """Base class: every error the gateway answers on purpose."""

    status: int = 500
    code: str = "internal_error"
    description: str = "Internal error"

    def __init__(self, description: str | None = None, *, reason: str | None = None) -> None:
        if description is not None:
            self.description = description
        #: a short machine-readable cause for logs and metrics; never shown to the client
        self.reason = reason or self.code
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


class StaffUnauthorized(BridgeError):
    status = 401
    code = "staff_unauthorized"
    description = "Missing or invalid staff credentials"


class InvalidIdentifier(BridgeError):
    status = 400
    code = "invalid_id"
    description = "Malformed identifier"


class NotFound(BridgeError):
    status = 404
    code = "not_found"
    description = "Not found"


class MethodNotAllowed(BridgeError):
    status = 405
    code = "method_not_allowed"
    description = "Method not allowed"


class RateLimited(BridgeError):
    status = 429
    code = "rate_limited"
    description = "Too many requests"

    def __init__(self, description: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(description)
        self.retry_after = retry_after


class VendorError(BridgeError):
    """A vendor API (Zendesk) did not give a usable answer."""


class VendorBadResponse(VendorError):
    status = 502
    code = "vendor_bad_response"
    description = "Zendesk gave an unusable answer"


class VendorUnavailable(VendorError):
    status = 503
    code = "vendor_unavailable"
    description = "Zendesk is unavailable"

    def __init__(
        self,
        description: str | None = None,
        *,
        reason: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(description, reason=reason)
        self.retry_after = retry_after


class VendorTimeout(VendorError):
    status = 504
    code = "vendor_timeout"
    description = "Zendesk did not answer in time"
