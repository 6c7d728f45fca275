import pytest

from channeldecomp.cli import main


def test_demo_quick_runs_and_prints_the_table(capsys):
    assert main(["demo", "--quick"]) == 0
    out = capsys.readouterr().out
    assert "global ROC AUC" in out
    for channel in ("muons", "photons", "pf", "calo_jets"):
        assert channel in out


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as excinfo:
        main(["nope"])
    assert excinfo.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
