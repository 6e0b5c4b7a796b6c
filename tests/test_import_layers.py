"""No import circle between rewardkit's packages: each package (data, models, curation, ...) and each
top-level module (cli, pipeline, recipe, ...) is a node, every import inside rewardkit an edge, and
function-level imports count too (a deferred import is still a dependency)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "rewardkit"  # the tree under test, not an installed copy


def unit(module: str) -> str:
    """rewardkit.data.sources.base -> data; rewardkit.cli -> cli."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imports(path: Path) -> set[str]:
    """The rewardkit modules a file imports, anywhere in it (relative imports resolved)."""
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
            found.add(".".join(p for p in (base, node.module or "") if p))
    return {m for m in found if m == "rewardkit" or m.startswith("rewardkit.")}


def unit_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        src = unit(module_name(path))
        graph.setdefault(src, set()).update(unit(m) for m in imports(path) if unit(m) != src)
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path [a, b, ..., a], or None (depth-first search with colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (found := visit(m)):
                return found
        state[n] = 2
        stack.pop()
        return None

    return next((c for n in sorted(graph) if n not in state and (c := visit(n))), None)


def test_the_cycle_finder_finds_a_cycle():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_circle_between_packages():
    graph = unit_graph()
    assert {"data", "models", "curation", "decontamination", "training", "evaluation", "cli"} <= set(graph)
    assert cycle(graph) is None


def test_the_data_layer_and_the_pure_index_import_no_model_code():
    graph = unit_graph()
    assert not graph["data"] & {"models", "training", "evaluation", "serving", "decontamination"}
    assert imports(ROOT / "decontamination" / "index.py") == {"rewardkit.data.pairs"}
