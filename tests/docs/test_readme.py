"""The README's commands, run as printed.

Every ``sh`` block of README.md but the ``make`` one runs in bash from the repository's root,
against ``bridge serve`` with the example configuration (started here, as ``make run`` would
be). Only the ports change (8001, 8002 and 8003 become free ones) and ``.venv/bin/`` becomes
the directory of the interpreter running the tests. Each output the README shows in a comment
(``# {"token": ...``, ``# 200``) must appear in what the block printed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.docs.gateway import free_port

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
EXAMPLE = ROOT / "config.example.yaml"
PORTS = ("8001", "8002", "8003")
_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)
#: a command the README tells people to run with the project's own interpreter
_PROGRAM = re.compile(r"(?<![\w/.-])(python3?|bridge|pytest) ")


def blocks() -> list[str]:
    return [b for b in _BLOCK.findall(README.read_text()) if not b.lstrip().startswith("make ")]


def expected_outputs(block: str) -> list[str]:
    """What the block's comments say it prints: a JSON answer's first key, or the line as is
    (up to an ellipsis or a parenthesis)."""
    found = []
    for line in block.splitlines():
        if not line.startswith("# ") or line.startswith("#  "):
            continue  # a command's own comment is on its line; continuation lines are indented
        text = line[2:].strip()
        if text.startswith("{"):
            found.append(text.partition(":")[0])
        elif not text.startswith(("a ", "the ")):
            found.append(re.split(r"\.\.\.|\(", text)[0].strip())
    return [text for text in found if text]


def test_the_readme_runs_every_program_from_the_venv() -> None:
    """``python -m bridge.dev.help_center`` with the system's python fails (none of
    the dependencies are there): every command in a block, and every stand-in named in the
    text, runs from ``.venv/bin/``."""
    text = README.read_text()
    bare = [
        line
        for block in blocks()
        for line in block.splitlines()
        if not line.lstrip().startswith("#") and _PROGRAM.search(line.split("#")[0])
    ]
    bare += re.findall(r"(?<!\.venv/bin/)python3? -m bridge\.\S+", text)
    assert bare == []


@pytest.fixture
def ports(tmp_path: Path) -> dict[str, str]:
    return {port: str(free_port()) for port in PORTS}


def localized(text: str, ports: dict[str, str]) -> str:
    for port, free in ports.items():
        text = text.replace(f"127.0.0.1:{port}", f"127.0.0.1:{free}")
        text = text.replace(f"--port {port}", f"--port {free}")
    return text.replace(".venv/bin/", f"{Path(sys.executable).parent}/")


def test_the_readmes_commands_print_what_it_says(tmp_path: Path, ports: dict[str, str]) -> None:
    assert shutil.which("curl"), "the README's commands use curl"
    config = tmp_path / "config.yaml"
    config.write_text(
        localized(EXAMPLE.read_text(), ports).replace(
            "dev/zipchat-dev-key.pem", str(ROOT / "dev/zipchat-dev-key.pem")
        )
    )
    bridge = Path(sys.executable).parent / "bridge"
    gateway = subprocess.Popen(  # noqa: S603 - our own command line, fixed arguments
        [str(bridge), "serve", "--config", str(config), "--port", ports["8001"]],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(200):
            probe = subprocess.run(  # noqa: S603
                ["curl", "-s", f"http://127.0.0.1:{ports['8001']}/healthz"],  # noqa: S607
                capture_output=True, check=False,
            )  # fmt: skip
            if probe.returncode == 0:
                break
            time.sleep(0.05)
        all_blocks = blocks()
        assert len(all_blocks) >= 4
        # the stand-ins the blocks start in the background stay up for the blocks after them
        script = "trap 'kill $(jobs -p) 2>/dev/null' EXIT\n"
        for number, block in enumerate(all_blocks):
            script += f"echo '=== block {number}'\n"
            for line in localized(block, ports).splitlines():
                script += line + "\n"
                if line.split("#")[0].rstrip().endswith("&"):
                    script += "sleep 2\n"  # as a reader would: the stand-in comes up first
            script += "sleep 0.5\n"
        result = subprocess.run(  # noqa: S603
            ["bash", "-c", script], cwd=ROOT, capture_output=True, text=True,  # noqa: S607
            timeout=120, check=False,
        )  # fmt: skip
    finally:
        gateway.terminate()
        gateway.wait(timeout=30)
    printed = result.stdout + result.stderr
    outputs = printed.split("=== block ")[1:]
    assert len(outputs) == len(all_blocks), printed
    for block, output in zip(all_blocks, outputs, strict=True):
        for expected in expected_outputs(localized(block, ports)):
            assert expected in output, f"{expected!r} not printed by:\n{block}\n---\n{output}"
    assert "No module named" not in printed
    assert "Traceback" not in printed
