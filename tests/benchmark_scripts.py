"""Load a script of ``benchmarks/`` as a module, for the tests of the benchmarks."""

import contextlib
import importlib.util
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(name):
    """The module ``benchmarks/<name>.py``, executed with its folder on ``sys.path`` (the
    scripts import one another, as they do when run from that folder)."""
    with benchmarks_on_path():
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def benchmarks_on_path():
    """Keep ``benchmarks/`` on ``sys.path`` while the block runs (for a script that imports
    another one late, inside a function)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield
    finally:
        sys.path.remove(str(BENCHMARKS))
