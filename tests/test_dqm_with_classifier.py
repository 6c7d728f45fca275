"""The data-quality tools on the real ChannelDecompositionClassifier (small and few epochs)."""

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import channeldecomp
from channeldecomp import ChannelDecompositionClassifier, write_report
from channeldecomp.cli import main
from channeldecomp.datasets import make_channel_anomalies
from channeldecomp.model_selection import random_partition_control


def _small_model(max_epochs=15):
    return make_pipeline(
        StandardScaler().set_output(transform="pandas"),
        ChannelDecompositionClassifier(
            hidden_layer_sizes=(32,), max_epochs=max_epochs, random_state=0
        ),
    )


@pytest.fixture(scope="module")
def data():
    return make_channel_anomalies(
        n_samples=2000, n_features_per_channel=8, multi_channel_fraction=0.0, random_state=0
    )


def test_random_partition_control_with_the_classifier(data):
    control = random_partition_control(
        _small_model(),
        data.data,
        data.target,
        channel_truth=data.channel_truth,
        n_repeats=1,
        random_state=0,
    )
    (partition,) = control.partitions
    assert {c: len(cols) for c, cols in partition.items()} == {c: 8 for c in data.channel_names}
    reference = control.reference.decomposition_auc
    shuffled = control.random[0].decomposition_auc
    assert list(reference.index) == list(shuffled.index) == data.channel_names
    # With its physical channels the model decomposes; with random ones it cannot.
    assert reference.mean() > shuffled.mean() + 0.15
    assert reference.min() > 0.7
    assert control.reference.global_auc > 0.7


def test_report_and_cli_with_the_classifier(data, tmp_path, capsys):
    train, test = slice(0, 1600), slice(1600, None)
    model = _small_model(max_epochs=5).fit(data.data.iloc[train], data.target.iloc[train])
    keys = pd.DataFrame({"run": np.repeat([1, 2], 200), "lumi": np.tile(np.arange(1, 201), 2)})
    path = write_report(
        model,
        data.data.iloc[test],
        data.target.iloc[test],
        tmp_path / "report.html",
        keys=keys,
        channel_truth=data.channel_truth.iloc[test],
    )
    document = path.read_text()
    assert "<h2>Training</h2>" in document  # the skorch history_ is drawn
    assert len(re.findall(r'src="data:image/png;base64,', document)) == 3

    table = data.data.iloc[test].reset_index(drop=True)
    table.insert(0, "run", keys["run"])
    table.insert(1, "lumi", keys["lumi"])
    table["good"] = data.target.iloc[test].to_numpy()
    table.to_csv(tmp_path / "ls.csv", index=False)
    channeldecomp.save(model, tmp_path / "model.skops")
    status = main(
        [
            "report",
            "--model",
            str(tmp_path / "model.skops"),
            "--data",
            str(tmp_path / "ls.csv"),
            "--label-column",
            "good",
            "-o",
            str(tmp_path / "cli.html"),
        ]
    )
    assert status == 0, capsys.readouterr().err
    assert "<h2>Timeline</h2>" in (tmp_path / "cli.html").read_text()
