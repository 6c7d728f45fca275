"""``channeldecomp demo --input histograms``: ME histograms, one channel per subsystem."""

import pytest

from channeldecomp import _demo
from channeldecomp.cli import main
from channeldecomp.datasets import DETECTOR_FAULT_MODES


def test_demo_on_histograms_decomposes_by_subsystem(capsys, monkeypatch):
    # The quick demo's sizes, cut further so the test takes seconds.
    tiny = {"n_lumisections": 300, "events_per_lumisection": 60, "max_epochs": 2}
    monkeypatch.setitem(_demo._SIZES, True, tiny)
    # Without --output: the report's figures (one row per channel) would take most of the time;
    # the report itself is the same code for either input.
    assert main(["demo", "--quick", "--input", "histograms"]) == 0
    out = capsys.readouterr().out
    assert "Global ROC AUC" in out and "random_partition" in out
    table = out.split("Per-channel ROC AUC")[1].split("mean:")[0]
    for subsystem in DETECTOR_FAULT_MODES:  # the channels are the subsystems
        assert subsystem in table
    assert "muons" not in table
    matrix = out.split("Channel x subsystem ROC AUC")[1]
    assert "CASTOR" in matrix


def test_demo_rejects_an_unknown_input():
    with pytest.raises(ValueError, match="input must be 'objects' or 'histograms'"):
        _demo.run_demo(quick=True, input="pixels")
    with pytest.raises(SystemExit):
        main(["demo", "--input", "pixels"])
