"""``lookups:`` entries as ``bridge check-config`` sees them: each type's required keys, the
base URL's scheme, and the vendors' own pairs; every problem at once, no secret shown."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.errors import ConfigError
from bridge.lookups.registry import LOOKUP_TYPES
from bridge.settings.loading import parse_settings
from bridge.settings.root import Settings
from tests.conftest import config


def parse(**lookups: dict[str, Any]) -> Settings:
    return parse_settings(config(lookups=lookups), environ={})


def problems(**lookups: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(**lookups)
    return "\n".join(caught.value.problems)


def test_the_seven_tool_types_and_the_two_zendesk_ones_are_known() -> None:
    assert set(LOOKUP_TYPES) == {
        "sunshine_conversations", "intercom", "freshdesk", "hubspot_crm", "front", "helpscout",
        "crisp", "zendesk_chat", "zendesk_support",
    }  # fmt: skip


def test_vendor_hosts_are_the_defaults_where_there_is_one() -> None:
    s = parse(
        ic={"type": "intercom", "access_token": {"value": "t"}},
        hs={"type": "hubspot_crm", "access_token": {"value": "t"}},
        fr={"type": "front", "api_token": {"value": "t"}},
        hc={"type": "helpscout", "client_id": "app", "client_secret": {"value": "s"}},
        cr={"type": "crisp", "website_id": "w", "identifier": "i", "key": {"value": "k"}},
    )
    assert {name: entry.base_url for name, entry in s.lookups.items()} == {
        "ic": "https://api.intercom.io",
        "hs": "https://api.hubapi.com",
        "fr": "https://api2.frontapp.com",
        "hc": "https://api.helpscout.net",
        "cr": "https://api.crisp.chat",
    }


def test_plain_http_is_refused_outside_loopback() -> None:
    text = problems(fd={"type": "freshdesk", "base_url": "http://acme.freshdesk.com",
                        "api_key": {"value": "k"}})  # fmt: skip
    assert "lookups.fd" in text
    assert "https://" in text
    s = parse(fd={"type": "freshdesk", "base_url": "http://127.0.0.1:8012",
                  "api_key": {"value": "k"}})  # fmt: skip
    assert s.lookups["fd"].base_url == "http://127.0.0.1:8012"


def test_each_types_required_keys_are_reported_together() -> None:
    text = problems(
        cr={"type": "crisp", "website_id": "w", "identifier": "i"},
        hc={"type": "helpscout", "client_secret": {"value": "s"}},
        sc={"type": "sunshine_conversations", "base_url": "https://acme.zendesk.com/sc"},
        fd={"type": "freshdesk", "api_key": {"value": "k"}},
    )
    for where in (
        "lookups.cr.crisp.key", "lookups.hc.helpscout.client_id",
        "lookups.sc.sunshine_conversations.app_id", "lookups.sc.sunshine_conversations.key_id",
        "lookups.sc.sunshine_conversations.secret", "lookups.fd.freshdesk.base_url",
    ):  # fmt: skip
        assert where in text, text


def test_an_unknown_type_and_an_unknown_key_are_errors() -> None:
    assert "lookups.x" in problems(x={"type": "olark", "base_url": "https://api.olark.com"})
    text = problems(ic={"type": "intercom", "access_token": {"value": "t"}, "app_id": "a"})
    assert "app_id" in text


def test_a_secret_never_shows_in_a_problem() -> None:
    text = problems(
        fr={"type": "front", "api_token": {"value": "front-secret-token-value"}, "deadline": 0}
    )
    assert "deadline" in text
    assert "front-secret-token-value" not in text
    entry = parse(fr={"type": "front", "api_token": {"value": "front-secret-token-value"}})
    assert "front-secret-token-value" not in repr(entry.lookups)
