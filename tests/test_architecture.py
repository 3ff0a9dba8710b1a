"""The package's layers: every import (at the top of a module or inside a function) points to the
same layer or a lower one, so the import graph has no upward edge and no circle between layers.

    0 foundations   neuron.errors, atomic, paths, device, tables
    1 data          neuron.data
    2 side_info     neuron.side_info (descriptions; prompts)
    3 text          neuron.text (encoders, description features)
    4 runs          neuron.runs (run directories and their files)
    5 models        neuron.models (Shift-GCN, heads, the deployable zero-shot model)
    6 evaluation    neuron.evaluation
    7 inference     neuron.inference (prediction: it reaches models without the trainers)
    8 training      neuron.training
    9 experiments   neuron.experiments and the top-level modules: notebooks' parameters, the CLI
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "neuron"
LAYERS = {
    "neuron.errors": 0, "neuron.atomic": 0, "neuron.paths": 0, "neuron.device": 0, "neuron.tables": 0,
    "neuron.data": 1, "neuron.side_info": 2, "neuron.text": 3, "neuron.runs": 4, "neuron.models": 5,
    "neuron.evaluation": 6, "neuron.inference": 7, "neuron.training": 8,
}
TOP = 9


def layer(module: str) -> int:
    """The layer of a module: that of its longest listed prefix, else the top."""
    prefixes = [p for p in LAYERS if module == p or module.startswith(p + ".")]
    return LAYERS[max(prefixes, key=len)] if prefixes else TOP


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """The neuron modules `path` imports, anywhere in it ("from neuron.x import y" counts as
    neuron.x.y when that is a module, else neuron.x)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("neuron")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("neuron"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                is_module = (PACKAGE.parent / candidate.replace(".", "/")).with_suffix(".py").is_file() or \
                    (PACKAGE.parent / candidate.replace(".", "/") / "__init__.py").is_file()
                found.add(candidate if is_module else node.module)
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_no_import_reaches_a_higher_layer(path):
    here = module_name(path)
    upward = sorted(m for m in imports(path) if layer(m) > layer(here))
    assert not upward, f"{here} (layer {layer(here)}) imports {[(m, layer(m)) for m in upward]}"


def test_the_module_graph_has_no_circle():
    graph = {module_name(p): {m for m in imports(p) if m != module_name(p)} for p in MODULES}
    graph = {m: {t for t in targets if t in graph} for m, targets in graph.items()}
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(node, path):
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                pytest.fail("import circle: " + " -> ".join([*path[path.index(target):], target]))
            if target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
