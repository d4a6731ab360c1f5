"""bridge.js loaded with Subresource Integrity in Chromium, with the hash computed as
docs/integration.md says: it runs with the right hash, and a wrong one (or a page whose origin
is not in cors.origins, which may not read the file) keeps it from running."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.browser.conftest import MakeStage, Stage

ROOT = Path(__file__).resolve().parents[2]
SERVED = ROOT / "bridge" / "static" / "bridge.js"
#: the command docs/integration.md gives, run from the repository root on the served file
RECIPE = "openssl dgst -sha384 -binary bridge.js | openssl base64 -A"

LOAD = """async ([src, integrity]) => {
    delete window.Bridge;  // loaded once by the page already: load it again, checked
    return await new Promise((resolve) => {
        const script = document.createElement("script");
        script.src = src;
        script.integrity = integrity;
        script.crossOrigin = "anonymous";
        script.onload = () => resolve(typeof window.Bridge?.connect);
        script.onerror = () => resolve("blocked");
        document.head.appendChild(script);
    });
}"""


def integrity(content: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(content).digest()).decode()


def test_the_docs_recipe_gives_that_hash() -> None:
    assert RECIPE in (ROOT / "docs" / "integration.md").read_text()
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    made = subprocess.run(  # noqa: S602 - the docs' fixed pipeline, on a file of ours
        RECIPE, shell=True, cwd=SERVED.parent, capture_output=True, text=True, check=True
    )
    assert "sha384-" + made.stdout.strip() == integrity(SERVED.read_bytes())


async def load(stage: Stage, page_origin: str, hash_value: str) -> str:
    page = await stage.open(page_origin + "/")
    result: str = await page.evaluate(LOAD, [stage.gateway + "/static/bridge.js", hash_value])
    return result


async def test_the_script_runs_with_its_hash_and_not_with_another(make_stage: MakeStage) -> None:
    stage = await make_stage()
    assert await load(stage, stage.shop, integrity(SERVED.read_bytes())) == "function"
    assert await load(stage, stage.shop, integrity(b"another version")) == "blocked"
    assert stage.page_errors == []


async def test_an_unlisted_origin_cannot_check_the_hash(make_stage: MakeStage) -> None:
    stage = await make_stage()
    assert await load(stage, stage.stranger, integrity(SERVED.read_bytes())) == "blocked"
