import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scalinglab.cli import app

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def quick_demo(tmp_path_factory):
    """`scalinglab demo --quick` into <tmp>/scalinglab-demo, as the README's users run it (output to a
    pipe: no terminal); the tests below read what it printed and left."""
    where = tmp_path_factory.mktemp("demo")
    done = subprocess.run([sys.executable, "-m", "scalinglab", "demo", "--quick", "--out",
                           str(where / "scalinglab-demo")], capture_output=True, text=True, timeout=600,
                          env=os.environ.copy())
    assert done.returncode == 0, done.stderr[-3000:]
    return where, done


@pytest.mark.slow
def test_quick_demo_end_to_end(quick_demo):
    where, done = quick_demo
    reports = list(where.rglob("summary.json"))
    assert len(reports) == 1
    folder = reports[0].parent
    summary = json.loads(reports[0].read_text())
    assert f"verdict: {summary['verdict']}" in done.stdout
    # Three widths per arm, second seeds at 32 and 48; the pivot (48) and its seed shared: 8 trainings, 10 rows.
    assert summary["runs"]["complete"] == summary["runs"]["total"] == 10
    headline = summary["forecast"]["headline"]
    assert (headline["a"], headline["b"]) == ("constant", "scaled") and 0 <= headline["p_b_better"] <= 1
    assert summary["comparisons"][0]["observed"]["noise_source"].startswith("seeds")
    assert (folder / "index.html").exists()
    images = [p for p in folder.rglob("*") if p.suffix in (".png", ".svg")]
    assert images
    for image in images:
        if image.suffix == ".png":
            assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        else:
            ET.parse(image)
    # No terminal: a plain line per finished run (never a bar that cannot redraw), the plan's range.
    finished = [line for line in done.stderr.splitlines() if "complete  eval loss" in line]
    assert len(finished) == 10 and finished[-1].endswith("[10/10 runs]")
    assert "━" not in done.stderr
    total = next(line for line in done.stdout.splitlines() if line.startswith("total: "))
    assert re.search(r"est\. .+ \(.+–.+\)$", total), total  # one line, even in a log


@pytest.mark.slow
def test_the_readme_python_example_runs(quick_demo):
    where, _ = quick_demo
    text = README.read_text()
    example = text.split("## From Python", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    done = subprocess.run([sys.executable, "-c", example], cwd=where, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "MPLBACKEND": "Agg"})
    assert done.returncode == 0, done.stderr[-3000:]
    for arm in ("constant", "scaled"):  # each LawFit printed for a person, not as a raw record
        assert re.search(rf"^{arm}: L\(C\) = E \+ A·C\^-alpha, fitted to 5 points \(status \w+\)\n"
                         r"  E = \S+, A = \S+, alpha = \S+", done.stdout, re.MULTILINE), done.stdout
    verdict = done.stdout.strip().splitlines()[-1]  # a sentence: the winner at the target, or why it is uncertain
    assert re.match(r"At [\d.e]+ FLOPs, (scaled is better than constant|constant is better than scaled|"
                    r"constant and scaled are equivalent|constant vs scaled is uncertain)", verdict), verdict
    assert (where / "crossover.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


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
