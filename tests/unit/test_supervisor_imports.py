"""The supervisor of ``bridge serve`` holds only what it uses: its import path (the command
line, the supervisor, the log set-up) loads nothing of the application, the configuration
schema, the vendors, Redis, metrics or cryptography."""

from __future__ import annotations

import json
import subprocess
import sys

#: modules (and their submodules) the supervisor must never load
FORBIDDEN = (
    "aiohttp",
    "pydantic",
    "cryptography",
    "jwt",
    "redis",
    "prometheus_client",
    "multiprocessing",
    "yaml",
    "bridge.app",
    "bridge.settings",
    "bridge.targets",
    "bridge.zendesk",
    "bridge.login",
    "bridge.http",
    "bridge.metrics",
    "bridge.worker",
)


def modules_after(statements: str) -> set[str]:
    """Every module loaded in a fresh interpreter after ``statements``."""
    script = f"import json, sys\n{statements}\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return set(json.loads(done.stdout))


def forbidden(modules: set[str]) -> list[str]:
    return sorted(
        name for name in modules for top in FORBIDDEN if name == top or name.startswith(top + ".")
    )


def test_the_supervisor_imports_nothing_of_the_application() -> None:
    modules = modules_after(
        "import bridge.__main__, bridge.serve, bridge.log\n"
        "bridge.__main__.build_parser().parse_args(['serve', '--config', 'x.yaml'])"
    )
    assert "bridge.listen" in modules  # the supervisor's path was followed
    assert forbidden(modules) == []


def test_the_check_sees_a_module_the_supervisor_would_load_by_mistake() -> None:
    assert "pydantic" in forbidden(modules_after("import bridge.serve, bridge.settings.root"))
