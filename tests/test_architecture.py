"""The package's shape: no import cycles, each layer imports only what sits below it, small modules.

Every ``import`` statement counts, at module level or inside a function (a lazy import is still a
dependency). The rules are the ones in docs/ARCHITECTURE.md; a new module must fit them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from helpers import REPO

PACKAGE = REPO / "livehead"
MAX_LINES = 500

# Which top-level parts of the package each part may import (besides itself). Parts not named
# here (commands, cli) may import anything.
FOUNDATION = {"errors", "types", "checks", "extras", "native", "data"}
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "types": set(),
    "checks": set(),
    "extras": {"errors"},
    "native": set(),
    "face": FOUNDATION,
    "ui.keymap": FOUNDATION,
    "ui.display": FOUNDATION,
    "config": FOUNDATION | {"ui.keymap"},
    "stages": FOUNDATION | {"face", "config"},
    "models": FOUNDATION | {"config"},
    "runtime": FOUNDATION | {"models"},
    "export": FOUNDATION | {"models", "runtime"},
    "animators": FOUNDATION | {"face", "config", "stages", "models", "runtime"},
    "avatars": FOUNDATION | {"face", "config", "stages", "animators"},
    "sinks": FOUNDATION | {"ui.display", "stages"},
    "ui": FOUNDATION | {"config", "ui.keymap", "ui.display"},
    "install": FOUNDATION | {"config", "stages"},
    "pipeline": FOUNDATION | {"face", "config", "stages", "animators", "avatars", "sinks", "ui", "ui.keymap"},
    "eval": FOUNDATION | {"face", "config", "stages", "models", "runtime", "animators", "avatars", "pipeline",
                          "ui.keymap"},
    # the bench report reuses eval's JSON writer and media discovery
    "bench": FOUNDATION | {"face", "config", "stages", "models", "runtime", "animators", "avatars", "sinks",
                           "pipeline", "ui", "ui.keymap", "eval"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path, name: str) -> set[str]:
    """Every livehead module ``path`` imports (absolute or relative, any depth in the file)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "livehead"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "livehead":
                continue
            # ``from package import submodule`` depends on the submodule; ``from module import name`` on the module
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in MODULES else target)
    return found


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return {name: {m for m in _imports(path, name) if m in MODULES and m != name} for name, path in MODULES.items()}


def _part(module: str) -> str:
    """``livehead.ui.keymap`` → ``ui.keymap`` for the two leaf modules that have rules of their own, else the
    first package level (``livehead.stages.capture`` → ``stages``)."""
    rest = module.split(".")[1:]
    if rest[:2] in (["ui", "keymap"], ["ui", "display"]):
        return ".".join(rest[:2])
    return rest[0] if rest else ""


def test_no_import_cycles(graph: dict[str, set[str]]) -> None:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_layers_import_only_what_lies_below(graph: dict[str, set[str]]) -> None:
    wrong = []
    for module, deps in sorted(graph.items()):
        part = _part(module)
        allowed = ALLOWED.get(part)
        if allowed is None:
            continue
        for dep in sorted(deps):
            target = _part(dep)
            if target and target != part and target not in allowed and not (part.startswith("ui") and target == "ui"):
                wrong.append(f"{module} imports {dep} ({part} may import {', '.join(sorted(allowed)) or 'nothing'})")
    assert not wrong, "\n".join(wrong)


def test_live_path_never_imports_export(graph: dict[str, set[str]]) -> None:
    live = [m for m in graph if _part(m) in ("runtime", "models", "animators", "pipeline", "stages")]
    offenders = [m for m in live if any(_part(d) == "export" for d in graph[m])]
    assert not offenders


def test_no_module_is_too_long() -> None:
    long = {str(p.relative_to(REPO)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_the_rules_catch_a_violation(tmp_path: Path) -> None:
    """The checker itself: a stage importing a command is reported."""
    stage = tmp_path / "livehead" / "stages" / "bad.py"
    stage.parent.mkdir(parents=True)
    stage.write_text("from livehead.commands.run import main\nfrom livehead.commands import run\n")
    deps = _imports(stage, "livehead.stages.bad")
    assert "livehead.commands.run" in deps
    assert _part("livehead.commands.run") not in ALLOWED["stages"]
