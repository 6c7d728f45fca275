"""The package's layout: no import cycle, and no stage reaching into another stage's privates.

A *stage* is a top-level module or subpackage of ``channeldecomp`` (``decomposition``,
``features``, ``detectors``, ``metrics``, ``export``, ``cli``, ...). A stage may import what it
likes from itself, and only public modules and public names from another stage. The imports are
read with ``ast`` from the source files, so nothing is imported to check them.
"""

import ast
from pathlib import Path

import channeldecomp

PACKAGE = Path(channeldecomp.__file__).parent

#: Private top-level modules every stage may import, with the reason.
SHARED_PRIVATE = {
    "_validation": "input checks and error messages shared by every estimator",
    "_device": "torch device checks shared by every torch estimator",
    "_torch_state": "the registry of torch modules a model file may rebuild; every torch "
    "estimator registers its modules there",
    "_version": "the version, in one place",
    "_files": "atomic file writes, shared by the writers (io, cli)",
}

#: Private top-level modules that belong to one stage: its helpers, kept in their own file.
STAGE_OF_PRIVATE = {
    "_onnx_graph": "export",  # the ONNX graph builder of export.py, imported by it alone
    "_demo": "cli",  # the job behind `channeldecomp demo`, run by the command line alone
}

#: Known violations in modules being reworked elsewhere, to be removed as they are fixed:
#: (importing module, imported module or module.name).
ALLOWED_VIOLATIONS = {}


def _module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules():
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(name, path, *, module_level_only):
    """(imported module, imported names) of each import of ``channeldecomp`` in the module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    nodes = tree.body if module_level_only else ast.walk(tree)
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            found.append((base, [alias.name for alias in node.names]))
    return [(module, names) for module, names in found if module.split(".")[0] == "channeldecomp"]


def _resolve(module, names, modules):
    """Split ``from module import names`` into imported modules and imported (module, name)."""
    targets, attributes = [], []
    for imported in names:
        if f"{module}.{imported}" in modules:
            targets.append(f"{module}.{imported}")
        else:
            attributes.append((module, imported))
    if attributes or not targets:
        # ``from package import submodule`` needs the submodule; an attribute, the package.
        targets.insert(0, module)
    return targets, attributes


def _stage(module):
    parts = module.split(".")
    if len(parts) < 2:
        return None  # the package itself
    return STAGE_OF_PRIVATE.get(parts[1], parts[1])


def _is_private(module):
    return any(part.startswith("_") for part in module.split(".")[1:])


def test_no_import_cycle():
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        edges = set()
        for module, names in _imports(name, path, module_level_only=True):
            targets, _ = _resolve(module, names, modules)
            edges |= {target for target in targets if target in modules and target != name}
        graph[name] = edges
    assert graph["channeldecomp.decomposition"], "the import graph is empty: check the parser"

    state = {}  # 1: on the current path, 2: done
    path = []

    def visit(node):
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycle = path[path.index(target) :] + [target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def _violations():
    modules = _modules()
    found = set()
    for name, path in modules.items():
        own = _stage(name)
        for module, names in _imports(name, path, module_level_only=False):
            targets, attributes = _resolve(module, names, modules)
            for target in targets:
                top = target.split(".")[1] if "." in target else None
                if top in SHARED_PRIVATE or _stage(target) in (None, own):
                    continue
                if own is None and not attributes:
                    continue  # the package's __init__ re-exports public names of every stage
                if _is_private(target) and not (own is None and target == module):
                    found.add((name, target))
            for source, imported in attributes:
                top = source.split(".")[1] if "." in source else None
                if top in SHARED_PRIVATE or _stage(source) in (None, own):
                    continue
                if imported.startswith("_"):
                    found.add((name, f"{source}.{imported}"))
                elif _is_private(source) and own is not None:
                    found.add((name, source))
    return found


def test_no_stage_imports_another_stages_private_names():
    violations = sorted(_violations())
    assert not violations, "private imports across stages (import the public name instead): " + str(
        violations
    )


def test_the_checker_sees_a_private_import():
    # The rule applied to a made-up import, so a parser that finds nothing cannot pass.
    targets, attributes = _resolve("channeldecomp.decomposition", ["_classifier"], _modules())
    assert "channeldecomp.decomposition._classifier" in targets and not attributes
    assert _stage("channeldecomp.decomposition._classifier") == "decomposition"
    assert _is_private("channeldecomp.decomposition._classifier")
    assert _stage("channeldecomp._onnx_graph") == "export"
