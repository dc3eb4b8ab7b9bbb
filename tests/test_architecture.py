"""Which way the library's imports point (docs/architecture.md), read from the sources with
``ast``: no module is imported. Every ``.py`` file under daisee_lab/ has a layer in `LAYERS`, so a
new module must be placed before its imports are checked."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

from conftest import REPO

PACKAGE = REPO / "daisee_lab"

# The layers, bottom to top. An import points to a lower layer, or stays inside its own
# component (see `component`) in the same layer.
BASE, UNITS, CORES, EDGES, COMPOSITES, APPLICATIONS, EXERCISES, COMMAND = range(8)


def _layer(layer: int, *names: str) -> dict[str, int]:
    return {f"daisee_lab.{name}" if name else "daisee_lab": layer for name in names}


CHAPTERS = [f"exercises.ch{n:02d}" for n in range(1, 14)]
LAYERS = {
    **_layer(BASE, "", "errors", "reading", "tariffs"),  # "": the package itself (__version__)
    **_layer(UNITS, "units"),
    **_layer(CORES,
             "tic", "tic_index", "tic_labels", "dlms", "dsmr", "dsmr_crypto", "dsmr_obis",
             "dsmr_telegram", "dsmr_values",
             "settlement", "settlement.reference", "settlement.kernels", "settlement.scale",
             "settlement.auction_reference", "settlement.auction_kernels",
             "settlement.allocation_reference", "settlement.allocation", "settlement.acc_methods",
             "settlement.intmath",
             "chain", "chain.compiler", "chain.chain", "chain.batch", "chain.gas", "chain.reverts",
             "chain.anvil", "chain.demo",
             "plots", "plots.figure", "plots.energy", "plots.markets", "plots.acc", "plots.chain",
             "plots.privacy",
             "community", "appliances", "privacy", "recorder", "samples", "book"),
    **_layer(EDGES, "meter", "contracts", "contracts.readings", "contracts.community",
             "contracts.auction", "acc", "report", "widgets"),
    **_layer(COMPOSITES, "simulator", "committed"),
    **_layer(APPLICATIONS,
             "run", "run.common", "run.arguments", "run.fleet", "run.market", "run.checks",
             "run.stages",
             "classroom", "classroom.schedule", "classroom.joins", "classroom.guard",
             "classroom.meters", "classroom.meter_process", "classroom.relay", "classroom.bills",
             "classroom.state", "classroom.instructor", "classroom.learner", "classroom.live"),
    **_layer(EXERCISES, "exercises", *CHAPTERS),
    **_layer(COMMAND, "cli", "cli_args"),
}

# Import cycles at run time, each broken at import time by a function-level import (the
# import-time graph is acyclic): a driver and its batch, the settle() dispatch to the ACC methods.
ALLOWED_CYCLES = {
    frozenset({"daisee_lab.chain.chain", "daisee_lab.chain.batch"}),
    frozenset({"daisee_lab.settlement.reference", "daisee_lab.settlement.acc_methods",
               "daisee_lab.settlement.allocation_reference"}),
}
SHARED = {"daisee_lab.units", "daisee_lab.reading", "daisee_lab.errors"}


class Edge(NamedTuple):
    """`source` imports `target`; `when`: "top" (at import time), "lazy" (in a function) or
    "typing" (under ``if TYPE_CHECKING``, never run)."""
    source: str
    target: str
    when: str


def module_name(path: Path) -> str:
    """``daisee_lab/chain/chain.py`` -> ``daisee_lab.chain.chain``; a package is its __init__."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def component(module: str) -> str:
    """What a module may import freely in its own layer: its subpackage, the codec family (tic*,
    dsmr*, dlms), the command (cli, cli_args); any other module is a component of its own."""
    name = module.removeprefix("daisee_lab.")
    if re.fullmatch(r"(tic|dsmr)(_\w+)?|dlms", name):
        return "codecs"
    if name in ("cli", "cli_args"):
        return "cli"
    return name.split(".")[0]


def _resolve(name: str, modules: Iterable[str]) -> str | None:
    """The module `name` names: itself, or the module holding the attribute it names."""
    parts = name.split(".")
    while parts and ".".join(parts) not in modules:
        parts.pop()
    return ".".join(parts) or None


def _imported(node: ast.Import | ast.ImportFrom, package: str) -> list[str]:
    """The dotted names one import statement imports, relative ones made absolute."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        parent = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join(parent + ([node.module] if node.module else []))
    return [f"{base}.{alias.name}" for alias in node.names]


def imports_of(module: str, source: str, is_package: bool,
               modules: Iterable[str] = MODULES) -> set[Edge]:
    """The project's modules `source` (the text of `module`) imports, resolved to modules:
    ``from daisee_lab import tic`` is daisee_lab.tic, ``from ..units import MAX_WH`` is
    daisee_lab.units, ``from daisee_lab import __version__`` the package itself."""
    modules = set(modules)
    package = module if is_package else module.rpartition(".")[0]
    edges: set[Edge] = set()

    def visit(node: ast.AST, when: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for name in _imported(child, package):
                    target = _resolve(name, modules)
                    if target and target != module:
                        edges.add(Edge(module, target, when))
            elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for statement in child.body:
                    visit(ast.Module(body=[statement], type_ignores=[]), "typing")
                for statement in child.orelse:
                    visit(ast.Module(body=[statement], type_ignores=[]), when)
            else:
                lazy = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
                visit(child, "lazy" if lazy and when == "top" else when)

    visit(ast.parse(source), "top")
    return edges


def project_edges() -> set[Edge]:
    """Every import between the library's modules."""
    return {edge for module, path in MODULES.items()
            for edge in imports_of(module, path.read_text(encoding="utf-8"),
                                   path.name == "__init__.py")}


IMPORTS = project_edges()


def layer_violations(edges: Iterable[Edge], layers: dict[str, int] = LAYERS) -> list[str]:
    """Imports that point up, or sideways out of their component."""
    return sorted(f"{e.source} (layer {layers[e.source]}) imports {e.target} "
                  f"(layer {layers[e.target]})" for e in edges
                  if layers[e.target] > layers[e.source]
                  or (layers[e.target] == layers[e.source]
                      and component(e.target) != component(e.source)))


def foreign_imports(edges: Iterable[Edge], importer: Callable[[str], bool],
                    allowed: Callable[[str, str], bool]) -> list[str]:
    """Imports by modules `importer` accepts of targets `allowed(source, target)` refuses."""
    return sorted(f"{e.source} imports {e.target}" for e in edges
                  if importer(e.source) and not allowed(e.source, e.target))


def cycles(edges: Iterable[Edge]) -> set[frozenset[str]]:
    """The groups of two or more modules that import each other, directly or not."""
    reach: dict[str, set[str]] = {}
    for e in edges:
        reach.setdefault(e.source, set()).add(e.target)
    changed = True
    while changed:  # transitive closure: a few dozen modules, a few passes
        changed = False
        for targets in reach.values():
            more = set().union(*(reach.get(t, set()) for t in targets)) - targets
            if more:
                targets |= more
                changed = True
    return {frozenset({m} | {n for n in reach[m] if m in reach.get(n, set())})
            for m in reach if any(m in reach.get(n, set()) for n in reach[m] if n != m)}


def is_codec_or_settlement(module: str) -> bool:
    return component(module) in ("codecs", "settlement")


def only_shared_or_own(source: str, target: str) -> bool:
    return target in SHARED or component(target) == component(source)


def test_every_module_has_a_layer():
    assert sorted(set(MODULES) - set(LAYERS)) == [], "place the new module in LAYERS"
    assert sorted(set(LAYERS) - set(MODULES)) == [], "a module in LAYERS no longer exists"


def test_every_import_points_to_a_lower_layer_or_inside_its_component():
    assert len(IMPORTS) > 200  # the reader found the imports (about 300 today)
    assert layer_violations(IMPORTS) == []


def test_codecs_and_settlement_import_only_units_reading_errors_and_their_own():
    assert foreign_imports(IMPORTS, is_codec_or_settlement, only_shared_or_own) == []


def test_only_the_command_imports_the_command():
    assert foreign_imports(IMPORTS, lambda source: source != "daisee_lab.cli",
                           lambda source, target: component(target) != "cli") == []


def test_only_the_exercises_import_the_exercises():
    assert foreign_imports(IMPORTS, lambda source: component(source) != "exercises",
                           lambda source, target: component(target) != "exercises") == []


def test_import_cycles_are_the_known_ones_and_none_at_import_time():
    assert cycles(e for e in IMPORTS if e.when != "typing") == ALLOWED_CYCLES
    assert cycles(e for e in IMPORTS if e.when == "top") == set()


def test_the_checks_catch_a_forbidden_arrow():
    """Each rule, handed today's imports plus one it forbids, names that one."""
    kernels_to_chain = Edge("daisee_lab.settlement.kernels", "daisee_lab.chain", "top")
    assert layer_violations(IMPORTS | {kernels_to_chain}) == [
        "daisee_lab.settlement.kernels (layer 2) imports daisee_lab.chain (layer 2)"]
    assert foreign_imports(IMPORTS | {kernels_to_chain}, is_codec_or_settlement,
                           only_shared_or_own) == [
        "daisee_lab.settlement.kernels imports daisee_lab.chain"]
    units_up = Edge("daisee_lab.units", "daisee_lab.settlement.reference", "lazy")
    assert layer_violations({units_up}) == [
        "daisee_lab.units (layer 1) imports daisee_lab.settlement.reference (layer 2)"]
    tic_to_meter = Edge("daisee_lab.tic", "daisee_lab.meter", "typing")
    assert foreign_imports({tic_to_meter}, is_codec_or_settlement, only_shared_or_own) == [
        "daisee_lab.tic imports daisee_lab.meter"]
    run_time = {e for e in IMPORTS if e.when != "typing"}
    back = Edge("daisee_lab.reading", "daisee_lab.tic", "lazy")
    assert cycles(run_time | {back}) == ALLOWED_CYCLES | {
        frozenset({"daisee_lab.reading", "daisee_lab.tic"})}


def test_imports_are_resolved_to_modules():
    source = """
from __future__ import annotations
from typing import TYPE_CHECKING
import numpy as np
from daisee_lab import tic, __version__
from . import reference
from ..units import MAX_WH
from daisee_lab.chain import Chain
if TYPE_CHECKING:
    from daisee_lab.community import Household
def settle():
    from daisee_lab.settlement import acc_methods
"""
    found = imports_of("daisee_lab.settlement.kernels", source, is_package=False)
    assert found == {Edge("daisee_lab.settlement.kernels", target, when) for target, when in [
        ("daisee_lab.tic", "top"), ("daisee_lab", "top"),
        ("daisee_lab.settlement.reference", "top"), ("daisee_lab.units", "top"),
        ("daisee_lab.chain", "top"), ("daisee_lab.community", "typing"),
        ("daisee_lab.settlement.acc_methods", "lazy")]}
    in_package = imports_of("daisee_lab.settlement", "from .kernels import settle", True)
    assert in_package == {Edge("daisee_lab.settlement", "daisee_lab.settlement.kernels", "top")}


def test_the_layout_page_names_every_module():
    page = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = [str(path.relative_to(REPO)) for path in MODULES.values()
               if path.name != "__init__.py" and not re.fullmatch(r"ch\d\d\.py", path.name)
               and not re.search(rf"\b{re.escape(path.name)}\b", page)]
    assert missing == []
