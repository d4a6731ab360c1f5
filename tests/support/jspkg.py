"""The npm package in js/, packed once per test run with ``npm pack`` (which runs its build,
with no network), and unpacked for the tests that read or serve it."""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
JS = ROOT / "js"
TSC = JS / "node_modules" / ".bin" / "tsc"


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is missing: apt-get install nodejs npm (.ci/run does)")
    return found


def typescript() -> str:
    if not TSC.exists():
        pytest.fail("TypeScript is not installed in js/node_modules: run `make js-deps`")
    return str(TSC)


def run(*args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed tools on files of ours
        list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


@functools.cache
def packed() -> tuple[Path, Path]:
    """``npm pack`` of js/: the tarball, and the directory it was unpacked into
    (``package/...``, as npm installs it)."""
    scratch = Path(tempfile.mkdtemp(prefix="bridge-npm-pack-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    result = run(
        tool("npm"), "pack", "--json", "--pack-destination", str(scratch),
        "--no-audit", "--no-fund", cwd=JS,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [made] = json.loads(result.stdout)
    tarball = scratch / made["filename"]
    unpacked = scratch / "unpacked"
    with tarfile.open(tarball) as archive:
        archive.extractall(unpacked, filter="data")
    return tarball, unpacked / "package"
