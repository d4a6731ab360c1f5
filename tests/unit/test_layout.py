"""The package's shape: an import graph without cycles, a state module that imports nothing of
the package, and modules a reader can hold in mind."""

from __future__ import annotations

import graphlib
import subprocess
import sys
from pathlib import Path

import grimp

PACKAGE = Path(__file__).resolve().parents[2] / "bridge"
MAX_LINES = 500


def import_graph() -> dict[str, set[str]]:
    """Every module of the package and the package modules it imports, type-only imports and
    imports inside functions included, and the import Python makes itself: a module's parent
    packages are imported (their ``__init__`` run) before it."""
    graph = grimp.build_graph("bridge", exclude_type_checking_imports=False)
    edges = {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}
    for module, imported in edges.items():
        parent = module.rpartition(".")[0]
        if parent:
            imported.add(parent)
    return edges


def test_no_import_cycle_anywhere_in_the_package() -> None:
    graph = import_graph()
    assert len(graph) > 40  # the whole package was found
    try:
        order = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:  # pragma: no cover - the failure message
        raise AssertionError(f"import cycle: {' -> '.join(exc.args[1])}") from None
    assert set(order) == set(graph)


def test_the_cycle_check_sees_type_only_and_function_level_imports() -> None:
    graph = import_graph()
    assert "bridge.app" in graph["bridge.worker"]  # imported inside run_worker


def test_the_state_module_imports_nothing_of_the_package() -> None:
    assert import_graph()["bridge.state"] == {"bridge"}  # only its package, which is empty


def test_every_module_can_be_imported_first() -> None:
    """In a fresh interpreter each module imports on its own: no import order hides a cycle
    through a package's ``__init__``."""
    script = (
        "import importlib, pkgutil, sys\n"
        "import bridge\n"
        "names = sorted(m.name for m in pkgutil.walk_packages(bridge.__path__, 'bridge.'))\n"
        "failed = []\n"
        "for name in names:\n"
        "    for loaded in [m for m in sys.modules if m.startswith('bridge.')]:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ImportError as exc:\n"
        "        failed.append(f'{name}: {exc}')\n"
        "print(len(names))\n"
        "print('\\n'.join(failed))\n"
    )
    result = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", script],
        cwd=PACKAGE.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    count, *failures = result.stdout.strip().splitlines()
    assert int(count) > 40
    assert failures == []


def test_the_wiring_point_is_the_only_importer_of_the_handlers() -> None:
    importers = {
        module
        for module, imported in import_graph().items()
        if any(name.startswith("bridge.http.") for name in imported)
        and not module.startswith("bridge.http")
    }
    assert importers == {"bridge.app"}


def test_no_module_is_over_500_lines() -> None:
    sizes = {
        str(path.relative_to(PACKAGE.parent)): len(path.read_text(encoding="utf-8").splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    assert len(sizes) > 40
    assert {name: lines for name, lines in sizes.items() if lines > MAX_LINES} == {}


def test_no_production_module_imports_the_vendor_stand_ins() -> None:
    """``bridge.dev`` (development and test stand-ins) is imported by nothing else of the
    package, so a running gateway never loads it."""
    graph = import_graph()
    stand_ins = {module for module in graph if module.startswith("bridge.dev.")}
    assert {"bridge.dev.fake", "bridge.dev.zendesk", "bridge.dev.hubspot"} <= stand_ins
    importers = {
        module
        for module, imported in graph.items()
        if imported & (stand_ins | {"bridge.dev"}) and not module.startswith("bridge.dev")
    }
    assert importers == set()
