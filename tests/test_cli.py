import json

import pytest

from channeldecomp.certification import read_golden_json
from channeldecomp.cli import main

CHANNELS = ("muons", "photons", "pf", "calo_jets")


def test_demo_quick_prints_the_table_and_writes_its_files(capsys, tmp_path):
    output = tmp_path / "demo"
    assert main(["demo", "--quick", "--output", str(output)]) == 0
    out = capsys.readouterr().out
    assert "Global ROC AUC" in out
    assert "random_partition" in out
    assert "random_bad_only" in out and "among bad lumisections:" in out
    assert "Channel x subsystem ROC AUC" in out
    for channel in CHANNELS:
        assert channel in out
    for name in ("score_distributions.png", "auc_heatmap.png"):
        assert (output / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<img" in (output / "report.html").read_text()
    for name in (*CHANNELS, "global"):
        path = output / "golden" / f"{name}.json"
        assert isinstance(json.loads(path.read_text()), dict)
    certified = read_golden_json(output / "golden" / "global.json")
    assert len(certified) > 0


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as excinfo:
        main(["nope"])
    assert excinfo.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
