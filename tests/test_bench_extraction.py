"""The extraction benchmark's data and its stage breakdown, on a small run."""

import numpy as np
import pytest
from benchmark_scripts import load_benchmark

pytest.importorskip("uproot")


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_extraction")


def test_files_hold_the_events_and_ls_straddle_files(bench, tmp_path):
    import uproot

    paths = bench.write_files(tmp_path, 3_000, 3)
    seconds, n = bench.read_with_uproot(paths)
    assert n == 3_000 and seconds > 0
    lumis = [uproot.open(p)["Events"]["luminosityBlock"].array(library="np") for p in paths]
    # written LS after LS, cut into files of equal size: an LS continues in the next file
    assert all(np.all(np.diff(lumi) >= 0) for lumi in lumis)
    assert any(a[-1] == b[0] for a, b in zip(lumis[:-1], lumis[1:]))


def test_stages_prints_each_stage_against_the_read(bench, capsys):
    bench.main(["--stages", "--events", "4000", "--files", "2", "--chunk-size", "1000"])
    out = capsys.readouterr().out
    assert "stages of the read tasks, 4,000 events" in out
    for stage in ("read", "conversion", "per-event stage", "per-lumisection stage"):
        line = next(line for line in out.splitlines() if line.strip().startswith(stage))
        assert line.rstrip().endswith("x the read")
        seconds, ratio = line.split()[-4:-2]
        assert float(seconds) >= 0 and float(ratio.rstrip("x")) >= 0
