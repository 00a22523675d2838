"""The Ray executor on a real local Ray: each run a task, results back to the driver, the store filled."""

from __future__ import annotations

import json

import pytest

from scalinglab.config import load_study
from scalinglab.execute import plan_study, run_study
from scalinglab.store import study_status
from tests.study_files import write_study

pytestmark = pytest.mark.slow

ray = pytest.importorskip("ray", reason="Ray is not installed (optional extra: pip install -e .[ray])")


def test_tiny_study_on_local_ray(tmp_path, cache_dir):
    # Two runs on one device each, and one on two: a task holding 2 CPUs starts its two processes.
    path = write_study(tmp_path / "s.toml", widths=[64], cache_dir=cache_dir, arms={
        "a": {"lr": 0.01}, "b": {"lr": 0.02}, "c": {"lr": 0.01, "loop": {"devices": 2}}})
    # The executor starts its own local Ray (ray.init(address="local", num_cpus=2, ...)), as
    # `scalinglab run --executor ray` does, and shuts it down at the end.
    plan = plan_study(load_study(path), workers=2, threads=1, probe=False)
    summary = run_study(plan, tmp_path / "s", executor="ray")
    assert not ray.is_initialized()
    assert dict(summary.counts) == {"complete": 3}
    assert study_status(path).counts["complete"] == 3
    results = {r.arm: json.loads((tmp_path / "s" / "runs" / r.run_id / "result.json").read_text())
               for r in load_study(path).runs}
    assert {arm: r["devices"] for arm, r in results.items()} == {"a": 1, "b": 1, "c": 2}
    # The same run as arm a's, on two processes: the same rows, the same loss to float rounding.
    assert results["c"]["final_eval_loss"] == pytest.approx(results["a"]["final_eval_loss"], abs=1e-3)
