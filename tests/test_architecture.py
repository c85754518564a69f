"""The house's rules, checked on the source: imports point one way, nothing happens at import."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from mnist_lightning.hydra_setup import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "src" / "mnist_lightning"
LIGHTNING_FREE = ("persistence", "inference", "serving", "models", "data.idx", "errors", "io")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module imported anywhere in the file (lazy imports inside functions too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


MODULES = {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}


def unit(module: str) -> str:
    """The package part a module belongs to: `mnist_lightning.training.run` -> `training`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "mnist_lightning"


def unit_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, imported in MODULES.items():
        targets = {unit(m) for m in imported if m.startswith("mnist_lightning.")} - {unit(module)}
        graph.setdefault(unit(module), set()).update(targets)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path + [node, nxt]
            if nxt not in state and (cycle := visit(nxt, path + [node])):
                return cycle
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [])):
            return cycle
    return None


def closure(module: str) -> set[str]:
    """Modules imported by `module`, transitively through this package's own modules."""
    seen, todo = set(), [module]
    while todo:
        for imported in MODULES.get(todo.pop(), ()):
            if imported not in seen:
                seen.add(imported)
                if imported in MODULES:
                    todo.append(imported)
    return seen


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) is not None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_between_packages():
    graph = unit_graph()
    assert {"training", "persistence", "evaluation", "inference", "study", "data", "models"} <= set(graph)
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph))}"


def test_persistence_and_inference_never_import_lightning():
    offenders = {
        module: sorted(m for m in closure(module) if m.split(".")[0] in {"lightning", "pytorch_lightning"})
        for module in MODULES
        if module.removeprefix("mnist_lightning.").startswith(LIGHTNING_FREE)
    }
    assert len(offenders) >= 8
    assert not {m: found for m, found in offenders.items() if found}


def test_importing_every_module_changes_nothing():
    """No environment variable, resolver or matplotlib backend is set by importing our modules."""
    names = sorted(MODULES)
    code = (
        "import os, sys, importlib, matplotlib\n"
        "import torch, lightning, hydra  # third-party libraries set variables of their own\n"
        "from omegaconf import OmegaConf\n"
        "before, backend = dict(os.environ), matplotlib.rcParams['backend']\n"
        f"for name in {names!r}: importlib.import_module(name)\n"
        "changed = sorted(k for k in set(before) | set(os.environ) if before.get(k) != os.environ.get(k))\n"
        "assert not changed, changed\n"
        "assert not OmegaConf.has_resolver('job_dirname')\n"
        "assert matplotlib.rcParams['backend'] == backend\n"
        "print('imported', len(sys.modules))\n"
    )
    env = {"PYTHONPATH": str(PROJECT_ROOT / "src"), "PATH": "/usr/bin:/bin", "HOME": "/tmp"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "imported" in result.stdout
