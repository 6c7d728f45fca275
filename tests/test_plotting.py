import io

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("matplotlib", reason="the plotting tests need the 'plot' extra (matplotlib)")
import matplotlib

matplotlib.use("Agg")

from channeldecomp.datasets import make_channel_anomalies
from channeldecomp.metrics import channel_subsystem_auc, exclusive_anomaly_fraction
from channeldecomp.plotting import (
    plot_auc_heatmap,
    plot_exclusive_anomalies,
    plot_run_timeline,
    plot_score_distributions,
    plot_training_curves,
)


def _draw(figure):
    """Render the figure to PNG and return the bytes (fails on any drawing error)."""
    from matplotlib.figure import Figure

    assert isinstance(figure, Figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    data = buffer.getvalue()
    assert data.startswith(b"\x89PNG") and len(data) > 1000
    return data


@pytest.fixture(scope="module")
def scored():
    data = make_channel_anomalies(n_samples=400, random_state=0)
    rng = np.random.default_rng(0)
    # Scores that follow the truth, with noise: low where the anomaly is visible.
    truth = data.channel_truth.to_numpy()
    scores = np.clip(0.2 + 0.7 * truth + rng.normal(0, 0.1, truth.shape), 0.001, 1)
    index = pd.MultiIndex.from_arrays(
        [np.repeat([100, 101], 200), np.tile(np.arange(1, 201), 2)], names=["run", "lumi"]
    )
    channel_scores = pd.DataFrame(scores, columns=data.channel_names, index=index)
    subsystems = data.channel_truth.rename(columns=lambda c: f"sub_{c}").set_axis(index)
    return channel_scores, data.target.to_numpy(), subsystems


def test_score_distributions(scored):
    scores, y, _ = scored
    figure = plot_score_distributions(scores, y, sample_weight=np.ones(len(y)))
    assert [ax.get_title() for ax in figure.axes] == list(scores.columns)
    _draw(figure)
    # More channels than one row holds: extra panels are hidden, not drawn.
    wide = pd.concat([scores, scores.add_prefix("copy_")], axis=1)
    figure = plot_score_distributions(wide, y, log=False)
    assert sum(ax.get_visible() for ax in figure.axes) == 8
    _draw(figure)
    with pytest.raises(ValueError, match="rows"):
        plot_score_distributions(scores, y[:-1])


def test_auc_heatmap_and_exclusive_bars(scored):
    scores, _, subsystems = scored
    subsystems = subsystems.copy()
    subsystems["always_good"] = 1
    with pytest.warns(Warning):
        auc = channel_subsystem_auc(scores, subsystems)
    figure = plot_auc_heatmap(auc)
    texts = [t.get_text() for t in figure.axes[0].texts]
    assert "n/a" in texts and len(texts) == auc.size
    labels = [t.get_text() for t in figure.axes[0].get_xticklabels()]
    assert labels[0] == f"sub_muons\n({auc.attrs['n_bad']['sub_muons']})"
    _draw(figure)

    with pytest.warns(Warning):
        fractions = exclusive_anomaly_fraction(scores, subsystems)
    figure = plot_exclusive_anomalies(fractions, threshold=0.5)
    assert len(figure.axes[0].patches) == fractions.size
    _draw(figure)
    with pytest.raises(TypeError):
        plot_auc_heatmap(auc.to_numpy())


def test_run_timeline(scored):
    scores, y, _ = scored
    # Drop a few LS so the run has a gap.
    keep = np.ones(len(scores), dtype=bool)
    keep[20:25] = False
    figure = plot_run_timeline(
        scores[keep],
        100,
        labels=y[keep],
        global_scores=np.linspace(0, 1, keep.sum()),
        thresholds={c: 0.5 for c in scores.columns},
    )
    timeline = figure.axes[1]
    assert [t.get_text() for t in timeline.get_yticklabels()] == [
        "global P(good)",
        *scores.columns,
    ]
    assert figure.axes[0].get_title() == "Run 100: 195 lumisections"
    _draw(figure)
    plain = plot_run_timeline(scores.reset_index(drop=True), keys=scores.index)
    assert plain.axes[0].get_title().startswith("Run 100")
    _draw(plain)
    with pytest.raises(ValueError, match="Run 7"):
        plot_run_timeline(scores, 7)
    with pytest.raises(ValueError, match="keys="):
        plot_run_timeline(scores.reset_index(drop=True))


def test_training_curves():
    history = [
        {
            "epoch": e,
            "train_loss": 1 / e,
            "valid_loss": 1.2 / e,
            "valid_acc": 1 - 1 / (e + 1),
            "train_loss_best": True,
            "train_batch_count": 30,
            "dur": 0.1,
            "batches": [{"train_loss": 1.0}],
        }
        for e in range(1, 11)
    ]
    figure = plot_training_curves(history)
    assert [line.get_label() for line in figure.axes[0].get_lines()] == [
        "train_loss",
        "valid_loss",
    ]
    assert [line.get_label() for line in figure.axes[1].get_lines()] == ["valid_acc"]
    _draw(figure)
    only = plot_training_curves(pd.DataFrame(history).drop(columns="batches"), keys=["valid_acc"])
    assert len(only.axes) == 1
    with pytest.raises(ValueError, match="no entry"):
        plot_training_curves(history, keys=["nope"])
    with pytest.raises(ValueError, match="list of dicts"):
        plot_training_curves([])


def test_training_curves_from_a_skorch_history():
    skorch = pytest.importorskip("skorch")
    history = skorch.history.History()
    for epoch in range(1, 4):
        history.new_epoch()
        history.record("epoch", epoch)
        history.record("train_loss", 1.0 / epoch)
        history.record("valid_loss", 1.5 / epoch)
    figure = plot_training_curves(history)
    assert len(figure.axes[0].get_lines()) == 2
    _draw(figure)
