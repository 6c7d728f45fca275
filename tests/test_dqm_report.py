import base64
import re
import shutil
import subprocess
import sys

import joblib
import numpy as np
import pandas as pd
import pytest
from dqm_models import LogisticChannelClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import channeldecomp
from channeldecomp import write_report
from channeldecomp.certification import (
    certify_channels,
    channel_thresholds,
    read_golden_json,
    write_golden_json,
    write_lumi_list,
)
from channeldecomp.cli import COMMANDS, build_parser, main
from channeldecomp.datasets import make_channel_anomalies
from channeldecomp.metrics import decomposition_auc

pytest.importorskip("matplotlib", reason="the report draws figures: needs the 'plot' extra")

# The test stand-in is no type of the package: model files holding it are loaded with --trust.
STAND_IN = f"{LogisticChannelClassifier.__module__}.LogisticChannelClassifier"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


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
        golden_directory=tmp_path / "golden",
        title="Run 2010B <test>",
    )
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
    # One golden JSON per channel plus the global one, consistent with the certification.
    golden = sorted(p.name for p in (tmp_path / "golden").iterdir())
    assert golden == sorted(f"{c}.json" for c in [*scores.columns, "global"])
    thresholds = channel_thresholds(scores, y, sample_weight=data.luminosity[test])
    certified = certify_channels(scores, thresholds, keys=keys)
    muons = read_golden_json(tmp_path / "golden" / "muons.json")
    assert len(muons) == certified["muons"].sum()


def test_report_without_optional_inputs(fitted, tmp_path):
    model, data, test, _ = fitted
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
    with pytest.raises(ValueError, match="keys="):
        write_report(
            classifier, X, y, tmp_path / "x.html", good_label="good", golden_directory=tmp_path
        )


def _find_browser():
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


_IMAGE_CHECK = """<script>
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var decoded = images.filter(function (img) { return img.complete && img.naturalWidth > 0; });
  var out = document.createElement("pre");
  out.id = "image-check";
  out.textContent = "images=" + images.length + " decoded=" + decoded.length;
  document.body.appendChild(out);
});
</script>"""


def _render(browser, path, profile):
    completed = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--dump-dom",
            path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout


def test_report_renders_in_a_headless_browser(fitted, tmp_path):
    browser = _find_browser()
    if browser is None:
        pytest.skip(
            "no chromium/chrome binary on PATH: install Debian's 'chromium' package to run the "
            "browser rendering test (CI does, see .ci/run)"
        )
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
    checked.write_text(path.read_text().replace("</body>", _IMAGE_CHECK + "</body>"))
    dom = _render(browser, checked, tmp_path / "profile")
    assert "<title>Browser check</title>" in dom
    assert f'<pre id="image-check">images={n_images} decoded={n_images}</pre>' in dom
    # The check itself can fail: a corrupted image is reported as not decoded.
    broken = tmp_path / "broken.html"
    broken.write_text(checked.read_text().replace("base64,iVBOR", "base64,AAAA", 1))
    dom = _render(browser, broken, tmp_path / "profile")
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
