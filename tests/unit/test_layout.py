"""The package's shape: an import graph without cycles, a state module that imports nothing of
the package, and modules a reader can hold in mind."""

from __future__ import annotations

import graphlib
from pathlib import Path

import grimp

PACKAGE = Path(__file__).resolve().parents[2] / "bridge"
MAX_LINES = 500


def import_graph() -> dict[str, set[str]]:
    """Every module of the package and the package modules it imports, type-only imports and
    imports inside functions included."""
    graph = grimp.build_graph("bridge", exclude_type_checking_imports=False)
    return {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}


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
    assert "bridge.app" in graph["bridge.serve"]  # imported inside run_worker


def test_the_state_module_imports_nothing_of_the_package() -> None:
    assert import_graph()["bridge.state"] == set()


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
