"""Every script in examples/ runs in its quick mode and writes its figures."""

import runpy
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("*.py"))


def test_there_are_examples():
    assert EXAMPLES


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda path: path.name)
def test_example_runs_in_quick_mode(script, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", [str(script), "--quick", "--output", str(tmp_path)])
    runpy.run_path(str(script), run_name="__main__")
    figures = list(tmp_path.glob("*.png"))
    assert figures, f"{script.name} wrote no figure"
    assert all(path.stat().st_size > 1000 for path in figures)
