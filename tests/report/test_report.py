"""The report of a real tiny study (trained through the study runner) with diverged and failed runs."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pandas as pd
import pytest
from typer.testing import CliRunner

from scalinglab.cli import app
from scalinglab.config import ConfigError, load_study
from scalinglab.execute import plan_study, run_study
from scalinglab.report import build_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# One width, three budgets, an LR sweep whose top value (50) diverges at once, and an arm whose
# data source matches no file, so its runs fail at train time (the runner records them 'failed').
# Three runs train for real: what the report reads from a store. How it words and draws comparisons
# is test_findings.py's, on tables.
STUDY = """
[study]
name = "tiny"
description = "Report test: LR sweep, a recipe arm, diverged and failed runs."
[model]
depth = 1
[data]
tokenizer = "bytes"
seq_len = 32
max_documents = 200
cache_dir = "{cache}"
[budget]
batch_size = 8
[loop]
threads = 1
eval_tokens = 2048
[sweep]
width = [64]
tokens_per_param = [0.05, 0.1, 0.2]
lr = [0.01, 50.0]
[arms.base]
[arms.broken.data]
source = "files:{missing}/*.txt"
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("study")
    path = folder / "tiny.toml"
    path.write_text(STUDY.format(cache=folder / "cache", missing=folder / "missing"))
    study = load_study(path)
    run_study(plan_study(study, workers=1, threads=1, probe=False), study.default_out_dir())
    return path, build_report(path, bootstrap=50)


@pytest.mark.slow
def test_report_files_are_complete_and_valid(trained):
    path, result = trained
    assert result.out_dir == path.parent / "tiny" / "report"
    page = result.index_html.read_text()
    assert {p.suffix for p in result.figures} == {".png", ".svg"}
    for image in result.figures:
        assert f'"{image.name}"' in page, f"index.html does not reference {image.name}"
        if image.suffix == ".png":
            assert image.read_bytes().startswith(PNG_SIGNATURE)
        else:
            assert ET.parse(image).getroot().tag.endswith("svg")
    names = {p.stem for p in result.figures}
    assert {"loss_vs_compute", "loss_vs_lr", "lr_law", "learning_curves"} <= names
    assert sorted(p.name for p in result.out_dir.iterdir()) == sorted(
        [p.name for p in result.figures] + ["index.html", "summary.json", "summary.md"])
    # Written into a temporary folder and renamed into place: nothing left beside it.
    assert [p.name for p in result.out_dir.parent.iterdir() if p.name.startswith(".report")] == []
    # Static: no script, nothing fetched from the network.
    assert "<script" not in page and not re.search(r'(src|href)="(https?:)?//', page)


@pytest.mark.slow
def test_report_counts_and_fits(trained):
    _, result = trained
    summary = json.loads((result.out_dir / "summary.json").read_text())
    assert summary == result.summary
    # 2 arms x 3 budgets x 2 LRs; LR 50 diverges; every broken run fails.
    assert summary["runs"] == {"complete": 3, "diverged": 3, "failed": 6, "running": 0, "pending": 0, "total": 12}
    table = summary["table"]
    assert all(r["lr"] == 50.0 for r in table if r["status"] == "diverged")
    failed = [r for r in table if r["status"] == "failed"]
    assert len(failed) == 6 and all("missing" in r["error"] for r in failed)
    # Complete runs also score training rows they never took; diverged and failed ones have none.
    assert all((r["unseen"] is not None) == (r["status"] == "complete") for r in table)
    assert {r["name"] for r in summary["failed_runs"]} == {r["name"] for r in failed}

    fits = summary["fits"]
    assert set(fits) == {"base", "broken"}
    # The best LR of each budget: 3 points, as many as L(C) has parameters, so the curve is exact.
    assert fits["base"]["status"] == "exact" and fits["base"]["n_points"] == 3
    assert set(fits["base"]["params"]) == {"E", "A", "alpha"}
    assert fits["broken"]["status"] == "insufficient data" and "6 failed" in fits["broken"]["reason"]

    forecast = summary["forecast"]
    assert forecast["compute"] > max(r["compute"] for r in table if r["status"] == "complete")
    assert set(forecast["arms"]) == {"base"} and forecast["headline"] is None
    assert [c["status"] for c in summary["comparisons"]] == ["insufficient data"]

    lr = summary["hyperparameters"]["lr"]
    assert lr["by"] == "compute"  # one width holds three budgets, so each budget is its own U-curve
    optima = [o for law in lr["laws"] for o in law["optima"]]
    assert len(optima) == 3 and all(o["largest_stable"] == 0.01 and o["diverged_in_grid"] for o in optima)


@pytest.mark.slow
def test_summary_md_and_page_say_the_verdict(trained):
    _, result = trained
    # An LR sweep opens with its best LR per budget (0.01, the only LR that did not diverge), then the forecast.
    head = result.headline
    assert head.kind == "learning rate" and result.verdict == head.text
    assert head.finding[0].startswith("Best learning rate: 0.01 (the smallest tried) at 7.3e8 FLOPs, 0.01 (the "
                                      "smallest tried) at ")
    assert "FLOPs; at an end of the grid the best LR may lie beyond it; no law (it needs" in head.finding[0]
    assert head.forecast.startswith("Loss forecast at ") and "from the fitted law: base " in head.forecast
    assert "; broken (source files:" in head.forecast and "): no fit (0 complete runs at distinct compute, 6 " \
        "failed;" in head.forecast
    md = (result.out_dir / "summary.md").read_text()
    assert f"**Finding.** {' '.join(head.finding)}\n\n**Forecast.** {head.forecast}" in md
    page = result.index_html.read_text()
    assert "6 run(s) failed" in page
    assert "w64-L1-broken-lr0.01-0.05xN" in page  # failed runs are listed, with their error
    assert "diverged at step" in page
    assert "by the final loss on training windows each run never took" in page


@pytest.mark.slow
def test_cli_report_prints_verdict_and_path(trained, tmp_path):
    path, _ = trained
    out = tmp_path / "cli-report"
    res = CliRunner().invoke(app, ["report", str(path), "--out", str(out), "--bootstrap", "20",
                                   "--target-compute", "1e12"])
    assert res.exit_code == 0, res.output
    assert "Loss forecast at 1e12 FLOPs" in res.output and str(out / "index.html") in res.output.replace("\n", "")
    assert json.loads((out / "summary.json").read_text())["target_compute_source"] == "given"


def test_cli_report_user_errors(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["report", str(tmp_path / "nope.toml")])
    assert res.exit_code == 2 and res.stderr.strip().splitlines() == [f"error: {tmp_path / 'nope.toml'}: file not found"]
    study = tmp_path / "fresh.toml"
    study.write_text('[data]\ntokenizer = "bytes"\n[sweep]\nwidth = [64]\n')
    res = runner.invoke(app, ["report", str(study)])
    assert res.exit_code == 2 and len(res.stderr.splitlines()) == 1 and "no results yet" in res.stderr
    assert not (tmp_path / "fresh" / "report").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--out", "/proc/scalinglab-report"], "/proc/scalinglab-report: cannot create or write: /proc is not writable"),
    (["--out", "/proc/x/report"], "/proc/x/report: cannot create or write: /proc is not writable"),
    (["--bootstrap-seed", "-1"], "--bootstrap-seed: must be 0 or more, got -1"),
    (["--bootstrap", "-1"], "--bootstrap: must be 0 or more, got -1"),
    (["--target-compute", "nan"], "--target-compute: must be a finite positive number, got nan"),
    (["--target-compute", "1e-300"], "--target-compute: a target of 1e-300 FLOPs is below the data, whose runs span"),
])
def test_cli_report_refuses_bad_flags_before_any_work(tmp_path, args, message):
    study = tmp_path / "s.toml"
    study.write_text('[data]\ntokenizer = "bytes"\n[sweep]\nwidth = [64, 128]\n')
    res = CliRunner().invoke(app, ["report", str(study), *args])
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()  # no "fitting and drawing" first: nothing was started
    assert len(lines) == 1 and lines[0].startswith(f"error: {message}"), res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]


def test_report_never_replaces_a_folder_it_did_not_write(tmp_path):
    study = tmp_path / "s.toml"
    study.write_text('[data]\ntokenizer = "bytes"\n[sweep]\nwidth = [64]\n')
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not a scalinglab report"):
        build_report(study, out_dir=tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_the_main_figure_draws_into_a_users_axis():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from scalinglab.analysis import compare_arms
    from scalinglab.report import draw_comparison
    from tests.analysis.helpers import arm, crossing_a

    runs = pd.concat([arm("const", 2.0, 60.0, 0.1, noise=5e-4, seed=1),
                      arm("scaled", *crossing_a(1e14), noise=5e-4, seed=2)], ignore_index=True)
    comparison = compare_arms(runs, "const", "scaled", target_compute=1e16, draws=400)
    fig, ax = plt.subplots()
    assert draw_comparison(ax, runs, comparison) is ax
    labels = [line.get_label() for line in ax.get_lines()]
    assert {"const: runs", "scaled: runs", "target 1e16 FLOPs"} <= set(labels)
    assert sum(label.startswith("fit: ") for label in labels) == 2
    assert any(label.startswith("crossover const/scaled") for label in labels)  # the laws cross at 1e14
    assert ax.get_xscale() == "log" and len(ax.collections) >= 2  # the two bands of the draws
    plt.close(fig)
