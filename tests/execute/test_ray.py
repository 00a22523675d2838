"""The Ray executor on a real local Ray: each run a task, results back to the driver, the store filled."""

from __future__ import annotations

import pytest

from scalinglab.config import load_study
from scalinglab.execute import plan_study, run_study
from scalinglab.store import study_status

from tests.study_files import write_study

pytestmark = pytest.mark.slow

ray = pytest.importorskip("ray", reason="Ray is not installed (optional extra: pip install -e .[ray])")


def test_tiny_study_on_local_ray(tmp_path, cache_dir):
    path = write_study(tmp_path / "s.toml", widths=[64], arms={"a": {"lr": 0.01}, "b": {"lr": 0.02}},
                       cache_dir=cache_dir)
    # The executor starts its own local Ray (ray.init(address="local", num_cpus=2, ...)), as
    # `scalinglab run --executor ray` does, and shuts it down at the end.
    plan = plan_study(load_study(path), workers=2, threads=1, probe=False)
    summary = run_study(plan, tmp_path / "s", executor="ray")
    assert not ray.is_initialized()
    assert dict(summary.counts) == {"complete": 2}
    assert study_status(path).counts["complete"] == 2
    assert all((tmp_path / "s" / "runs" / r.run_id / "result.json").exists() for r in load_study(path).runs)
