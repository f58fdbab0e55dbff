"""The library's layering, as docs/design.md states it: data flows one way.

Each module imports only modules of its own level or below. The exceptions import inside
one function: `from_preset`, whose weights loaders (the converter, weights files) sit above
the models, and `preset_info(count_params=True)`, which builds a model to count it.
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "keras_videogpt"
LEVELS = {
    0: ["validation", "pixels", "distribute", "presets", "torch_checkpoint", "variable_keys"],
    1: ["data", "layers", "visualize"],
    2: ["vqvae", "prior"],
    3: ["sampling", "masked_sampling", "metrics", "checkpoints", "pretrained", "convert"],
    4: ["callbacks", "evaluation", "long_video"],
    5: ["training", "serving"],
    6: ["demo"],
    7: ["cli"],
}
LEVEL = {name: level for level, names in LEVELS.items() for name in names}


def _imports(tree):
    """`(imported keras_videogpt part, enclosing function or None)` for every import."""
    found = []

    def visit(node, function):
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                else function
            if isinstance(child, ast.ImportFrom) and (child.module or "").startswith(
                    "keras_videogpt"):
                parts = child.module.split(".")
                names = [parts[1]] if len(parts) > 1 else [a.name for a in child.names]
                found.extend((name, function) for name in names)
            visit(child, inner)

    visit(tree, None)
    return found


def test_every_module_has_a_level():
    tops = {p.relative_to(ROOT).parts[0].removesuffix(".py") for p in ROOT.rglob("*.py")}
    assert tops - {"__init__"} <= set(LEVEL), tops - set(LEVEL)


@pytest.mark.parametrize("path", sorted(str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py")
                                        if p.name != "__init__.py" or p.parent != ROOT))
def test_imports_flow_one_way(path):
    me = LEVEL[pathlib.Path(path).parts[0].removesuffix(".py")]
    upward = [(name, function) for name, function in _imports(ast.parse((ROOT / path).read_text()))
              if LEVEL.get(name, -1) > me and function not in ("from_preset", "preset_info")]
    assert not upward, f"{path} (level {me}) imports from above: {upward}"
