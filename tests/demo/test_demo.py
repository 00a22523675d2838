import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scalinglab.cli import app


@pytest.mark.slow
def test_quick_demo_end_to_end(tmp_path):
    done = subprocess.run([sys.executable, "-m", "scalinglab", "demo", "--quick", "--out", str(tmp_path / "demo")],
                          capture_output=True, text=True, timeout=600, env=os.environ.copy())
    assert done.returncode == 0, done.stderr[-3000:]
    reports = list((tmp_path / "demo").rglob("summary.json"))
    assert len(reports) == 1
    folder = reports[0].parent
    summary = json.loads(reports[0].read_text())
    assert f"verdict: {summary['verdict']}" in done.stdout
    # Three widths per arm, second seeds at 32 and 48; the pivot (48) and its seed shared: 8 trainings, 10 rows.
    assert summary["runs"]["complete"] == summary["runs"]["total"] == 10
    headline = summary["forecast"]["headline"]
    assert (headline["a"], headline["b"]) == ("constant", "scaled") and 0 <= headline["p_b_beats_a"] <= 1
    assert summary["comparisons"][0]["observed"]["noise_source"].startswith("seeds")
    assert (folder / "index.html").exists()
    images = [p for p in folder.rglob("*") if p.suffix in (".png", ".svg")]
    assert images
    for image in images:
        if image.suffix == ".png":
            assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        else:
            ET.parse(image)


@pytest.mark.parametrize("name", ["crossover", "learning-dynamics", "regularization", "large-lr", "small-batch",
                                  "other-crossovers", "two-regimes"])
def test_plan_of_every_paper_study(name):
    study = Path(__file__).resolve().parents[2] / "studies" / f"{name}-paper.toml"
    done = CliRunner().invoke(app, ["plan", str(study), "--no-probe", "--json"])
    assert done.exit_code == 0, done.output
    plan = json.loads(done.stdout)
    assert plan["totals"]["flops"] > 1e18 and all(r["flops"] > 0 for r in plan["runs"])


def test_an_unusable_demo_folder_is_one_line(tmp_path):
    (tmp_path / "a-file").write_text("")
    done = CliRunner().invoke(app, ["demo", "--quick", "--out", str(tmp_path / "a-file" / "demo")])
    assert done.exit_code == 2
    assert done.stderr.strip() == f"error: {tmp_path / 'a-file' / 'demo'}: {tmp_path / 'a-file'} is a file, not a folder"
