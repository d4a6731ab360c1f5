"""docs/openapi.yaml is a valid OpenAPI document and lists exactly the routes the app has."""

from __future__ import annotations

import re
from pathlib import Path

from openapi_spec_validator import validate

from bridge.app import create_app
from bridge.settings.loading import parse_settings
from tests.docs.document import HTTP_METHODS, documented_operations, spec
from tests.docs.gateway import ROOT, gateway_config

#: ``code = "..."`` of an error class, or ``"code": "..."`` of a JSON answer built in place
_RAISED_CODE = re.compile(r'^\s+code = "([^"]+)"$|"code": "([^"]+)"', re.MULTILINE)
#: ``404: "not_found"``: the codes given to the HTTP layer's own errors, by status
_HTTP_LAYER_CODE = re.compile(r'^\s+[1-5][0-9]{2}: "([a-z_]+)",$', re.MULTILINE)


def routed_operations() -> set[tuple[str, str]]:
    """What the app's router answers, every optional route on; HEAD comes with every GET."""
    app = create_app(parse_settings(gateway_config(), environ={}))
    return {
        (route.resource.canonical, route.method)
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }


def error_codes_in_spec() -> set[str]:
    codes: set[str] = set()
    for schema in spec()["components"]["schemas"].values():
        code = schema.get("properties", {}).get("code", {})
        codes.update(code.get("enum", []))
    return codes


def test_the_document_is_valid_openapi() -> None:
    validate(spec())
    assert spec()["openapi"].startswith("3.")


def test_every_route_and_method_of_the_app_is_documented_and_nothing_else() -> None:
    documented, routed = documented_operations(), routed_operations()
    assert sorted(routed - documented) == [], "routes missing from docs/openapi.yaml"
    assert sorted(documented - routed) == [], "documented operations the app does not have"


def test_cors_preflights_are_documented_exactly_where_the_app_answers_them() -> None:
    preflights = {path for path, method in routed_operations() if method == "OPTIONS"}
    assert preflights == {"/generate/token", "/v1/targets/{name}/token"}
    assert preflights == {path for path, method in documented_operations() if method == "OPTIONS"}


def codes_in_source(pattern: re.Pattern[str]) -> set[str]:
    """The codes the package's source spells out (read as text: module paths may move)."""
    found: set[str] = set()
    for path in Path(ROOT, "bridge").rglob("*.py"):
        for match in pattern.finditer(path.read_text(encoding="utf-8")):
            found.update(group for group in match.groups() if group)
    return found


def test_every_error_code_the_gateway_raises_is_documented() -> None:
    raised = codes_in_source(_RAISED_CODE)
    assert {"00-00", "00-03", "vendor_timeout", "draining"} <= raised  # the scan itself works
    assert sorted(raised - error_codes_in_spec()) == []


def test_every_documented_error_code_exists_in_the_gateway() -> None:
    known = codes_in_source(_RAISED_CODE) | codes_in_source(_HTTP_LAYER_CODE)
    assert "method_not_allowed" in known
    assert sorted(error_codes_in_spec() - known) == []


def test_every_operation_has_an_id_a_success_answer_and_no_catch_all() -> None:
    for path, item in spec()["paths"].items():
        for method in HTTP_METHODS:
            if method not in item:
                continue
            operation = item[method]
            where = f"{method.upper()} {path}"
            assert operation.get("operationId"), where
            assert "default" not in operation["responses"], where
            # a redirect is the success answer of a redirect-only route (the SSO logout)
            successes = ("2", "3") if path.endswith("/logout") else ("2",)
            assert any(status.startswith(successes) for status in operation["responses"]), where


def test_security_schemes_are_the_login_cookie_and_the_staff_key() -> None:
    schemes = spec()["components"]["securitySchemes"]
    assert schemes["loginCookie"] == {**schemes["loginCookie"], "type": "apiKey", "in": "cookie"}
    assert schemes["loginCookie"]["name"] == gateway_config()["upstream"]["cookie"]
    assert schemes["staffKey"] == {**schemes["staffKey"], "type": "http", "scheme": "bearer"}
