import base64
import dataclasses
import re
import subprocess
import sys

import joblib
import numpy as np
import pandas as pd
import pytest
from browser import IMAGE_CHECK, NO_BROWSER, find_browser, render
from dqm_models import LogisticChannelClassifier
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import channeldecomp
from channeldecomp import write_report
from channeldecomp.certification import (
    certify_channels,
    channel_thresholds,
    read_golden_json,
    write_channel_golden_jsons,
    write_golden_json,
    write_lumi_list,
)
from channeldecomp.cli import COMMANDS, build_parser, main
from channeldecomp.datasets import make_channel_anomalies
from channeldecomp.metrics import channel_subsystem_auc, decomposition_auc
from channeldecomp.report import ChannelReport, channel_report, render_html

pytest.importorskip("matplotlib", reason="the report draws figures: needs the 'plot' extra")

# The test stand-in is no type of the package: model files holding it are loaded with --trust.
STAND_IN = f"{LogisticChannelClassifier.__module__}.LogisticChannelClassifier"


@pytest.fixture(scope="module")
def fitted():
    data = make_channel_anomalies(n_samples=1600, random_state=4)
    model = make_pipeline(
        StandardScaler().set_output(transform="pandas"), LogisticChannelClassifier()
    )
    model.fit(data.data.iloc[:800], data.target.iloc[:800])
    test = slice(800, None)
    keys = pd.DataFrame(
        {"run": np.repeat([147114, 147115], 400), "lumi": np.tile(np.arange(1, 401), 2)}
    )
    return model, data, test, keys


def _images(document):
    return re.findall(r'<img alt="[^"]*" src="data:image/png;base64,([^"]+)"', document)


def test_report_is_self_contained_with_tables_and_figures(fitted, tmp_path):
    model, data, test, keys = fitted
    X, y = data.data.iloc[test], data.target.iloc[test]
    truth = data.channel_truth.iloc[test]
    path = write_report(
        model,
        X,
        y,
        tmp_path / "report.html",
        keys=keys,
        subsystem_labels=truth.add_prefix("sub_"),
        channel_truth=truth,
        sample_weight=data.luminosity[test],
        title="Run 2010B <test>",
    )
    # The HTML page only: no golden JSON (or anything else) next to it.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]
    document = path.read_text()
    assert "<title>Run 2010B &lt;test&gt;</title>" in document
    # Self-contained: no external resource of any kind.
    assert not re.search(r'(src|href)="(?!data:)', document)
    assert "<link" not in document and "<script" not in document
    images = _images(document)
    # AUC heat map, exclusive bars, distributions, timeline, training curves.
    assert len(images) == 5
    for encoded in images:
        assert base64.b64decode(encoded).startswith(b"\x89PNG")
    for heading in (
        "Summary",
        "Channels",
        "Decomposition against known truth",
        "Channels against subsystem flags",
        "Score distributions",
        "Certification",
        "Triage",
        "Timeline",
        "Training",
    ):
        assert f"<h2>{heading}</h2>" in document
    # The numbers in the tables are the metrics' own.
    scores = model[-1].predict_channel_scores(model[0].transform(X))
    expected = decomposition_auc(scores, truth, sample_weight=data.luminosity[test])
    for value in expected:
        assert f"<td>{value:.3f}</td>" in document


def test_report_without_optional_inputs(fitted, tmp_path):
    model, data, test, keys = fitted
    X = data.data.iloc[test].to_numpy()
    y = np.where(data.target.iloc[test] == 1, "good", "bad")
    # A plain array through the pipeline: the scaler has feature names, so use the frame.
    X = pd.DataFrame(X, columns=data.data.columns)
    classifier = LogisticChannelClassifier().fit(data.data.iloc[:800], data.target.iloc[:800])
    classifier.classes_ = np.array(["bad", "good"])
    path = write_report(classifier, X, y, tmp_path / "plain.html", good_label="good")
    document = path.read_text()
    assert "<h2>Timeline</h2>" not in document
    assert "<h2>Channels against subsystem flags</h2>" not in document
    assert len(_images(document)) == 2  # distributions and training curves
    with pytest.raises(ValueError, match="both good and bad"):
        write_report(classifier, X, np.full(len(X), "good"), tmp_path / "x.html", good_label="good")
    with pytest.raises(ValueError, match="rows"):
        write_report(model, X, y[:-1], tmp_path / "x.html")
    with pytest.raises(ValueError, match="keys has 10 rows"):
        write_report(classifier, X, y, tmp_path / "x.html", good_label="good", keys=keys[:10])
    # Golden JSON files are the caller's to write, from channel_report's certified table.
    with pytest.raises(TypeError, match="write_channel_golden_jsons"):
        write_report(
            classifier, X, y, tmp_path / "x.html", good_label="good", golden_directory=tmp_path
        )
    assert not (tmp_path / "x.html").exists()
    # Without keys the certified table is indexed by row: it cannot make golden JSON files.
    report = channel_report(classifier, X, y, good_label="good")
    assert report.certified.index.equals(pd.RangeIndex(len(X)))
    with pytest.raises(TypeError, match="MultiIndex"):
        write_channel_golden_jsons(report.certified, tmp_path / "golden")


@pytest.fixture(scope="module")
def computed(fitted, tmp_path_factory):
    """channel_report with every optional input, run in an empty working directory."""
    model, data, test, keys = fitted
    truth = data.channel_truth.iloc[test]
    folder = tmp_path_factory.mktemp("compute")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        report = channel_report(
            model,
            data.data.iloc[test],
            data.target.iloc[test],
            keys=keys,
            subsystem_labels=truth.add_prefix("sub_"),
            channel_truth=truth,
            sample_weight=data.luminosity[test],
            title="Run 2010B <test>",
        )
    return report, folder


def test_channel_report_computes_tables_and_figures_and_writes_nothing(fitted, computed):
    from matplotlib.figure import Figure

    report, folder = computed
    model, data, test, keys = fitted
    assert isinstance(report, ChannelReport)
    assert list(folder.iterdir()) == []  # no file I/O, not even in the working directory
    channels = list(data.channel_names)
    n = len(keys)
    assert report.summary.columns.tolist() == ["value"]
    assert report.summary["value"].to_dict() == {
        "lumisections": n,
        "good": int(data.target.iloc[test].sum()),
        "bad": n - int(data.target.iloc[test].sum()),
        "channels": len(channels),
        "global ROC AUC": pytest.approx(
            roc_auc_score(
                data.target.iloc[test],
                model.predict_proba(data.data.iloc[test])[:, 1],
                sample_weight=data.luminosity[test],
            )
        ),
        "runs": 2,
    }
    assert report.channels.shape == (len(channels), 2)
    assert report.channels.columns.tolist() == ["features", "ROC AUC vs global label"]
    assert report.channels["features"].tolist() == [
        len(model[-1].channel_indices_[c]) for c in channels
    ]
    # The tables are the metrics' own numbers (same inputs, same weights).
    X, y, weight = data.data.iloc[test], data.target.iloc[test], data.luminosity[test]
    scores = model[-1].predict_channel_scores(model[0].transform(X)).reset_index(drop=True)
    truth = data.channel_truth.iloc[test].reset_index(drop=True)
    pd.testing.assert_series_equal(
        report.decomposition["ROC AUC vs channel truth"],
        decomposition_auc(scores, truth, sample_weight=weight),
        check_names=False,
    )
    pd.testing.assert_frame_equal(
        report.channel_subsystem_auc,
        channel_subsystem_auc(scores, truth.add_prefix("sub_"), sample_weight=weight),
    )
    assert report.channel_subsystem_auc.shape == (len(channels), len(channels))
    assert report.exclusive_anomalies.index.tolist() == channels
    assert set(report.exclusive_anomalies.attrs["n_exclusive"]) <= {f"sub_{c}" for c in channels}
    assert report.certification.index.tolist() == [*channels, "global"]
    assert report.certification.columns.tolist() == [
        "threshold",
        "certified LS",
        "flagged LS",
        "flagged among good",
        "flagged among bad",
    ]
    assert (report.certification["certified LS"] + report.certification["flagged LS"] == n).all()
    # certified is certify_channels' table, indexed by (run, lumi).
    thresholds = channel_thresholds(scores, y.to_numpy(), sample_weight=weight)
    p_good = model.predict_proba(X)[:, 1]
    expected = certify_channels(scores, thresholds, keys=keys, global_scores=p_good)
    pd.testing.assert_frame_equal(report.certified, expected)
    assert report.triage.columns.tolist() == ["calibration half", "evaluation half"]
    assert report.triage_skipped is None
    reject_at, accept_at = report.triage_thresholds
    assert reject_at < accept_at
    bad_per_run = (1 - y.to_numpy()).reshape(2, -1).sum(axis=1)
    assert report.timeline_run == [147114, 147115][int(np.argmax(bad_per_run))]
    assert list(report.figures) == [
        "auc_heatmap",
        "exclusive_anomalies",
        "score_distributions",
        "timeline",
        "training_curves",
    ]
    assert all(isinstance(figure, Figure) for figure in report.figures.values())
    assert report.settings["false_alarm_rate"] == 0.01
    assert report.model_name == "Pipeline"
    # The blame: each bad LS counted once, under its lowest-scored channel.
    bad = y.to_numpy() == 0
    lowest = np.asarray(channels)[scores.to_numpy().argmin(axis=1)]
    assert report.blame.index.tolist() == channels
    assert report.blame.columns.tolist() == [
        "bad LS blamed",
        "share of bad",
        "median blamed score",
        "wrong blame",  # one model: no "networks agree"; channel truth given
    ]
    assert report.blame["bad LS blamed"].tolist() == [
        int((lowest[bad] == c).sum()) for c in channels
    ]
    assert report.blame["share of bad"].sum() == pytest.approx(1.0)
    muons = bad & (lowest == "muons")
    assert report.blame.loc["muons", "share of bad"] == pytest.approx(
        weight[muons].sum() / weight[bad].sum()
    )
    assert report.blame.loc["muons", "median blamed score"] == pytest.approx(
        np.median(scores["muons"].to_numpy()[muons])
    )
    visible = (truth.to_numpy() == 0).any(axis=1)
    judged = muons & visible
    assert report.blame.loc["muons", "wrong blame"] == pytest.approx(
        (truth["muons"].to_numpy()[judged] == 1).mean()
    )


def test_golden_jsons_from_the_report_certification(computed, tmp_path):
    report, _ = computed
    paths = write_channel_golden_jsons(report.certified, tmp_path / "golden")
    assert sorted(paths) == sorted(report.certification.index)
    for name, path in paths.items():
        assert len(read_golden_json(path)) == report.certification.loc[name, "certified LS"]


def test_render_html_shows_the_tables_and_figures(computed):
    report, _ = computed
    document = render_html(report)
    assert "<title>Run 2010B &lt;test&gt;</title>" in document
    assert len(_images(document)) == len(report.figures)
    for table in (
        report.channels,
        report.blame,
        report.decomposition,
        report.channel_subsystem_auc,
        report.certification,
    ):
        for column in table.columns:
            assert f"<th>{column}</th>" in document
    for value in report.certification["threshold"]:
        assert f"<td>{value:.3f}</td>" in document
    for value in report.channel_subsystem_auc.to_numpy().ravel():
        assert ("<td>n/a</td>" if np.isnan(value) else f"<td>{value:.3f}</td>") in document
    assert f"<td>{report.summary.loc['global ROC AUC', 'value']:.3f}</td>" in document
    assert f"along run {report.timeline_run}" in document
    # The page is rendered from the report object: what it holds is what the page shows.
    changed = dataclasses.replace(
        report, triage=None, triage_skipped="too few bad lumisections", figures={
            name: figure for name, figure in report.figures.items() if name != "timeline"
        }
    )  # fmt: skip
    document = changed.to_html()
    assert "Triage skipped: too few bad lumisections" in document
    assert "<h2>Timeline</h2>" not in document
    assert len(_images(document)) == len(report.figures) - 1


def test_report_renders_in_a_headless_browser(fitted, tmp_path):
    browser = find_browser()
    if browser is None:
        pytest.skip(NO_BROWSER)
    model, data, test, keys = fitted
    truth = data.channel_truth.iloc[test]
    path = write_report(
        model,
        data.data.iloc[test],
        data.target.iloc[test],
        tmp_path / "report.html",
        keys=keys,
        subsystem_labels=truth.add_prefix("sub_"),
        title="Browser check",
    )
    n_images = len(_images(path.read_text()))
    # The page itself has no script; a copy gets a tiny one that records the decoded images.
    checked = tmp_path / "checked.html"
    checked.write_text(path.read_text().replace("</body>", IMAGE_CHECK + "</body>"))
    dom = render(browser, checked, tmp_path / "profile")
    assert "<title>Browser check</title>" in dom
    assert f'<pre id="image-check">images={n_images} decoded={n_images}</pre>' in dom
    # The check itself can fail: a corrupted image is reported as not decoded.
    broken = tmp_path / "broken.html"
    broken.write_text(checked.read_text().replace("base64,iVBOR", "base64,AAAA", 1))
    dom = render(browser, broken, tmp_path / "profile")
    assert f"images={n_images} decoded={n_images - 1}" in dom


def _cli_inputs(fitted, tmp_path):
    model, data, test, keys = fitted
    table = data.data.iloc[test].reset_index(drop=True)
    table.insert(0, "run", keys["run"])
    table.insert(1, "lumi", keys["lumi"])
    table["good"] = data.target.iloc[test].to_numpy()
    table["luminosity"] = data.luminosity[test]
    for channel in data.channel_names:
        table[f"truth_{channel}"] = data.channel_truth[channel].iloc[test].to_numpy()
    csv = tmp_path / "lumisections.csv"
    table.to_csv(csv, index=False)
    model_path = channeldecomp.save(model, tmp_path / "model.skops")
    return table, csv, model_path


def test_cli_report(fitted, tmp_path, capsys):
    table, csv, model_path = _cli_inputs(fitted, tmp_path)
    bad = table[table["good"] == 0]
    write_lumi_list(bad[["run", "lumi"]].iloc[::2], tmp_path / "abnormal_A.txt")
    write_golden_json(bad[["run", "lumi"]].iloc[1::2], tmp_path / "abnormal_B.json")
    output = tmp_path / "out" / "report.html"
    output.parent.mkdir()
    status = main(
        [
            "report",
            "--model",
            str(model_path),
            "--trust",
            STAND_IN,
            "--data",
            str(csv),
            "--label-column",
            "good",
            "--weight-column",
            "luminosity",
            "--truth-prefix",
            "truth_",
            "--abnormal",
            f"A={tmp_path / 'abnormal_A.txt'}",
            "--abnormal",
            f"B={tmp_path / 'abnormal_B.json'}",
            "--golden-directory",
            str(tmp_path / "golden"),
            "--output",
            str(output),
        ]
    )
    assert status == 0
    assert capsys.readouterr().out.strip() == str(output)
    document = output.read_text()
    assert "<h2>Decomposition against known truth</h2>" in document
    assert "<th>A</th>" in document and "<th>B</th>" in document
    assert (tmp_path / "golden" / "global.json").exists()

    # Labels from a golden JSON instead of a label column.
    golden = tmp_path / "cert.json"
    write_golden_json(table.loc[table["good"] == 1, ["run", "lumi"]], golden)
    status = main(
        [
            "report",
            "--model",
            str(model_path),
            "--trust",
            STAND_IN,
            "--data",
            str(csv),
            "--golden",
            str(golden),
            "-o",
            str(tmp_path / "golden_labels.html"),
        ]
    )
    # The truth, weight and label columns are not features of the model: dropping only
    # run/lumi leaves extra columns, which the model rejects with a clear message.
    assert status == 2
    assert "feature names" in capsys.readouterr().err
    table.drop(columns=["good", "luminosity", *table.filter(like="truth_")]).to_csv(
        tmp_path / "features.csv", index=False
    )
    status = main(
        [
            "report",
            "--model",
            str(model_path),
            "--trust",
            STAND_IN,
            "--data",
            str(tmp_path / "features.csv"),
            "--golden",
            str(golden),
            "-o",
            str(tmp_path / "golden_labels.html"),
        ]
    )
    assert status == 0
    assert "<h2>Triage</h2>" in (tmp_path / "golden_labels.html").read_text()
    # Golden JSON files need the run and lumi of each row; nothing is written without them.
    status = main(
        [
            "report",
            "--model",
            str(model_path),
            "--trust",
            STAND_IN,
            "--data",
            str(csv),
            "--label-column",
            "good",
            "--run-column",
            "nope",
            "--golden-directory",
            str(tmp_path / "no_keys"),
            "-o",
            str(tmp_path / "no_keys.html"),
        ]
    )
    assert status == 2
    assert "--golden-directory needs the run and lumi" in capsys.readouterr().err
    assert not (tmp_path / "no_keys").exists() and not (tmp_path / "no_keys.html").exists()


def test_cli_errors_and_structure(fitted, tmp_path, capsys):
    _, csv, model_path = _cli_inputs(fitted, tmp_path)
    base = ["report", "--model", str(model_path), "--trust", STAND_IN, "--data", str(csv)]
    assert main([*base, "--label-column", "nope"]) == 2
    assert "--label-column 'nope'" in capsys.readouterr().err
    # The stand-in is refused unless trusted by name; a pickle file unless --trust-pickle.
    untrusted = ["report", "--model", str(model_path), "--data", str(csv)]
    assert main([*untrusted, "--label-column", "good"]) == 2
    err = capsys.readouterr().err
    assert "does not trust" in err and STAND_IN in err and "--trust TYPE" in err
    pickled = tmp_path / "model.joblib"
    joblib.dump(fitted[0], pickled)
    assert main(["report", "--model", str(pickled), "--data", str(csv), "--golden", "x"]) == 2
    assert "--trust-pickle" in capsys.readouterr().err
    pd.read_csv(csv).to_pickle(tmp_path / "ls.pkl")
    pickled_data = ["report", "--model", str(model_path), "--trust", STAND_IN]
    assert main([*pickled_data, "--data", str(tmp_path / "ls.pkl"), "--golden", "x"]) == 2
    assert "pickle file" in capsys.readouterr().err
    assert main([*base, "--label-column", "good", "--good-label", "7"]) == 2
    assert "--good-label '7'" in capsys.readouterr().err
    assert (
        main(
            [
                "report",
                "--model",
                str(model_path),
                "--trust",
                STAND_IN,
                "--data",
                str(tmp_path / "x.xlsx"),
                "--label-column",
                "good",
            ]
        )
        == 2
    )
    assert ".csv" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*base])  # a label source is required
    with pytest.raises(SystemExit):
        main([*base, "--label-column", "good", "--abnormal", "no-equals-sign"])
    capsys.readouterr()
    assert main([]) == 2
    assert "report" in capsys.readouterr().err
    # Commands are registered in one list, so a new one is a few lines.
    assert {"_add_report", "_add_score"} <= {f.__name__ for f in COMMANDS}
    assert "report" in build_parser().format_help()


def test_version_and_python_dash_m_entry_point(capsys):
    with pytest.raises(SystemExit) as excinfo:
        main(["--version"])
    assert excinfo.value.code == 0
    assert capsys.readouterr().out.startswith("channeldecomp ")
    help_text = subprocess.run(
        [sys.executable, "-m", "channeldecomp", "report", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "--golden" in help_text and "--abnormal" in help_text
