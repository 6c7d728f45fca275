"""Every gallery script in examples/ runs in its quick mode and draws its figures."""

import runpy
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("plot_*.py"))
QUICK_VARIABLE = "CHANNELDECOMP_DOCS_QUICK"


def test_there_are_examples():
    assert EXAMPLES
    assert not [path for path in EXAMPLES[0].parent.glob("*.py") if path not in EXAMPLES], (
        "every script of examples/ is a gallery example named plot_*.py"
    )


def _figures(namespace):
    """The pyplot figures and the Figures (of channeldecomp.plotting) an example holds."""
    figures = [plt.figure(number) for number in plt.get_fignums()]
    held = [value for value in namespace.values() if isinstance(value, Figure)]
    return figures + [figure for figure in held if figure not in figures]


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda path: path.name)
def test_example_runs_in_quick_mode(script, tmp_path, monkeypatch):
    # The documentation build runs the examples with this variable set; it keeps them short.
    assert QUICK_VARIABLE in script.read_text(), f"{script.name} does not read {QUICK_VARIABLE}"
    monkeypatch.setenv(QUICK_VARIABLE, "1")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(script)])
    plt.close("all")
    try:
        namespace = runpy.run_path(str(script), run_name="__main__")
        # An example writes nothing where it runs (temporary files go to a temporary folder).
        assert list(tmp_path.iterdir()) == []
        figures = _figures(namespace)
        assert figures, f"{script.name} drew no figure"
        for number, figure in enumerate(figures):
            path = tmp_path / f"figure{number}.png"
            figure.savefig(path)
            assert path.stat().st_size > 1000
    finally:
        plt.close("all")
