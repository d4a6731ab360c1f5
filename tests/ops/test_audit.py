"""The dependency audit's verdicts (scripts/audit.py), without the network."""

from __future__ import annotations

import urllib.error
from typing import Any

from scripts.audit import audit, installed_version

SKIPPED = "Dependency not found on PyPI and could not be audited: {name} ({version})"


def skipped(name: str, version: str) -> dict[str, Any]:
    return {"name": name, "skip_reason": SKIPPED.format(name=name, version=version)}


def lookup(name: str) -> tuple[str, list[dict[str, Any]]]:
    known: dict[str, tuple[str, list[dict[str, Any]]]] = {
        "clean": ("2.0", []),
        "ecdsa": ("0.19.2", [{"id": "PYSEC-2026-1325", "fixed_in": []}]),
        "withdrawn": ("1.0", [{"id": "GHSA-x", "withdrawn": "2026-01-01"}]),
    }
    if name not in known:
        raise urllib.error.URLError("unreachable")
    return known[name]


def test_installed_version_comes_from_the_skip_reason() -> None:
    assert installed_version(SKIPPED.format(name="aiohttp", version="3.14.5")) == "3.14.5"
    assert installed_version("something else") is None


def test_pip_audits_own_findings_count() -> None:
    report = {
        "dependencies": [
            {"name": "ok", "version": "1", "vulns": []},
            {"name": "bad", "version": "1", "vulns": [{"id": "CVE-1"}, {"id": "CVE-2"}]},
        ]
    }
    result = audit(report, ignore={"CVE-2"}, lookup=lookup)
    assert result.audited == ["ok", "bad"]
    assert result.vulnerable == ["bad 1: CVE-1"]


def test_skipped_packages_fall_back_to_the_latest_release_data() -> None:
    report = {
        "dependencies": [
            skipped("clean", "2.0"),
            skipped("ecdsa", "0.19.2"),
            skipped("withdrawn", "1.0"),
            skipped("clean", "1.0"),  # not the latest: the project data says nothing about it
            skipped("offline", "1.0"),
            {"name": "bridge", "skip_reason": "distribution marked as editable"},
        ]
    }
    result = audit(report, ignore=set(), lookup=lookup)
    assert result.audited == ["clean", "ecdsa", "withdrawn"]
    assert result.vulnerable == ["ecdsa 0.19.2: PYSEC-2026-1325 (fixed in no fix yet)"]
    assert result.unaudited == ["clean 1.0 (latest is 2.0)", "offline (URLError)"]
    assert result.notes == ["bridge: distribution marked as editable"]  # never looked up
