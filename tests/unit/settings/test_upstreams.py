"""``upstreams``: several login systems, and what ``check-config`` refuses about them."""

from __future__ import annotations

from typing import Any

from bridge.settings.loading import parse_settings
from tests.conftest import LOGIN_SECRET, config
from tests.unit.settings.test_schema import problems

HS = {"algorithms": ["HS256"], "secrets": [{"value": LOGIN_SECRET}]}
DISCOVERY = "https://idp.example/.well-known/openid-configuration"


def systems(*entries: dict[str, Any]) -> dict[str, Any]:
    data = config(upstreams=list(entries))
    del data["upstream"]
    return data


def test_the_list_form_names_each_system_and_keeps_upstream_as_the_first() -> None:
    settings = parse_settings(
        systems(
            {"issuer": "https://a.example", **HS},
            {"name": "idp", "issuer": "https://idp.example", "cookie": "idp",
             "algorithms": ["RS256"], "discovery_url": DISCOVERY},
        ),
        environ={},
    )  # fmt: skip
    assert [(name, entry.issuer) for name, entry in settings.login_systems] == [
        ("upstream-1", "https://a.example"),
        ("idp", "https://idp.example"),
    ]
    assert settings.upstream.issuer == "https://a.example"
    assert settings.login_systems[1][1].key_source == DISCOVERY


def test_the_one_system_form_is_named_default() -> None:
    settings = parse_settings(config(), environ={})
    assert [name for name, _ in settings.login_systems] == ["default"]
    assert settings.upstreams is None


def test_two_entries_with_one_issuer_are_refused() -> None:
    found = problems(systems({"issuer": "https://a.example", **HS},
                             {"issuer": "https://a.example", "cookie": "b", **HS}))  # fmt: skip
    assert found == [
        "upstreams: upstream-1 and upstream-2 have the same issuer 'https://a.example'; "
        "entries may share an issuer only when each sets its own project_id"
    ]


def test_an_entry_without_issuer_and_an_hs_entry_without_secrets_are_refused_together() -> None:
    found = problems(systems({"issuer": "https://a.example", "algorithms": ["HS256"]}, dict(HS)))
    assert "upstreams.0.secrets: HS algorithms need at least one secret" in found
    assert any(p.startswith("upstreams.1.issuer:") for p in found)


def test_two_entries_with_one_name_are_refused() -> None:
    found = problems(systems({"name": "x", "issuer": "https://a.example", **HS},
                             {"name": "x", "issuer": "https://b.example", **HS}))  # fmt: skip
    assert found == ["upstreams: entries 0 and 1 have the same name 'x'"]


def test_upstream_and_upstreams_together_or_neither_are_refused() -> None:
    both = config(upstreams=[{"issuer": "https://a.example", **HS}])
    assert any("not both" in p for p in problems(both))
    neither = config()
    del neither["upstream"]
    assert any("upstream (or upstreams) is required" in p for p in problems(neither))
    assert any(p.startswith("upstreams:") for p in problems(systems()))  # an empty list


def test_discovery_url_rules() -> None:
    rs = {"algorithms": ["RS256"]}
    no_issuer = config(upstream={**rs, "discovery_url": DISCOVERY})
    assert any("discovery_url needs issuer" in p for p in problems(no_issuer))
    both = config(upstream={**rs, "issuer": "i", "discovery_url": DISCOVERY,
                            "keys_url": "https://idp.example/keys"})  # fmt: skip
    assert any(p.startswith("upstream.keys_url:") and "not both" in p for p in problems(both))
    with_hs = config(upstream={**HS, "issuer": "i", "discovery_url": DISCOVERY})
    assert any(p.startswith("upstream.discovery_url:") for p in problems(with_hs))
    ok = parse_settings(config(upstream={**rs, "issuer": "i", "discovery_url": DISCOVERY}),
                        environ={})  # fmt: skip
    assert ok.upstream.key_source == DISCOVERY


def test_a_bad_name_is_refused() -> None:
    found = problems(systems({"name": "Has Spaces", "issuer": "https://a.example", **HS}))
    assert any(p.startswith("upstreams.0.name:") for p in found)


def test_the_demo_looks_at_the_first_login_system() -> None:
    demo = {"enabled": True, "i_understand_this_mints_login_cookies": True}
    rs_first = systems(
        {"issuer": "https://idp.example", "algorithms": ["RS256"], "discovery_url": DISCOVERY},
        {"issuer": "https://a.example", "cookie": "b", **HS},
    )
    assert any("needs an HS upstream" in p for p in problems({**rs_first, "demo": demo}))
    hs_first = systems({"issuer": "https://a.example", **HS})
    assert parse_settings({**hs_first, "demo": demo}, environ={}).demo.enabled
