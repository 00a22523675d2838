"""Plans: budgets and FLOPs per run without training, ordering, time estimates, resource choice."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from scalinglab.cli import app
from scalinglab.config import load_study
from scalinglab.execute import choose_resources
from scalinglab.plan import make_plan, makespan, resolve_budget, shape_key
from scalinglab.plan.plan import STUDY_START_S, WORKER_START_S
from tests.study_files import write_study


def test_plan_budgets_come_from_resolve_budget(tmp_path):
    study = load_study(write_study(tmp_path / "s.toml", widths=[64, 128, 192], extra="", tokens=2048))
    plan = make_plan(study, order="largest")
    assert [r.spec.width for r in plan.runs] == [192, 128, 64]
    for r in plan.runs:
        assert r.budget == resolve_budget(r.spec.config, 258)  # bytes: 256 + BOS + EOS
        assert r.seconds is None  # no probe, no time
    assert plan.flops == pytest.approx(sum(r.budget.flops for r in plan.runs))
    assert plan.seconds is None
    assert [r.spec.width for r in make_plan(study, order="smallest").runs] == [64, 128, 192]


def test_a_config_both_arms_share_counts_once_in_the_totals(tmp_path):
    # The driver trains a shared config (a crossover's pivot) once and copies its result to the twin.
    arms = {"constant": {"lr": "2/64"}, "scaled": {"lr": "2/width"}}
    study = load_study(write_study(tmp_path / "s.toml", widths=[64, 128], arms=arms))
    plan = make_plan(study, workers=2)
    assert len(plan.runs) == 4 and len(plan.trainings) == 3
    pivot = next(r for r in plan.runs if r.spec.width == 64)
    assert plan.flops == pytest.approx(sum(r.budget.flops for r in plan.runs) - pivot.budget.flops)
    done = CliRunner().invoke(app, ["plan", str(tmp_path / "s.toml"), "--no-probe", "--json"])
    assert json.loads(done.stdout)["totals"]["trainings"] == 3

def test_estimate_divides_runs_across_workers(tmp_path):
    study = load_study(write_study(tmp_path / "s.toml", widths=[64, 128], sweep={"seed": [0, 1]}))
    plan = make_plan(study, workers=2, tokens_per_s={})  # shapes unprobed: no estimate
    assert plan.seconds is None
    start = STUDY_START_S + WORKER_START_S
    assert makespan([10.0, 10.0, 10.0, 10.0], 2) == pytest.approx(start + 20)
    assert makespan([30.0, 10.0, 10.0, 10.0], 2) == pytest.approx(start + 30)
    assert makespan([5.0], 4) == pytest.approx(start + 5)


def test_a_run_on_several_devices_occupies_as_many_workers(tmp_path):
    start = STUDY_START_S + WORKER_START_S
    # In order: the 2-device run waits for both workers; the next ones start beside each other.
    assert makespan([10.0, 20.0, 10.0, 10.0], 2, [1, 2, 1, 1]) == pytest.approx(start + 40)
    assert makespan([20.0, 10.0, 10.0], 2, [2, 1, 1]) == pytest.approx(start + 30)
    assert makespan([20.0], 1, [2]) == pytest.approx(start + 20)  # more devices than workers: it runs alone
    # A study asking for 2 devices from width 128 on: its estimate and its workers count them.
    path = write_study(tmp_path / "s.toml", widths=[64, 128], extra="devices = '1 if width < 128 else 2'\n")
    study = load_study(path)
    assert [r.config.loop.devices for r in study.runs] == [1, 2]
    res = choose_resources([64, 128], 2, cpus=2, gpus=0, run_devices=[1, 2])
    assert res.workers == 2
    plan = make_plan(study, workers=res.workers, order="listed", tokens_per_s={shape_key(r.config): 10.0
                                                                               for r in study.runs})
    small, large = plan.runs
    assert (small.slots, large.slots) == (1, 2)
    assert large.seconds < large.budget.tokens / 10.0  # two processes train it faster than one
    assert plan.seconds == pytest.approx(makespan([small.seconds, large.seconds], 2, [1, 2]))
    # Its range counts them too: at the probe's slowest timing it is the plan at that rate.
    shaky = make_plan(study, workers=2, order="listed", spread=(0.5, 1.0),
                      tokens_per_s={shape_key(r.config): 10.0 for r in study.runs})
    slow = make_plan(study, workers=2, order="listed", tokens_per_s={shape_key(r.config): 5.0 for r in study.runs})
    assert shaky.seconds_range[1] == pytest.approx(slow.seconds)
    on_gpus = make_plan(study, workers=8, order="listed", gpus=True)  # there a multi-device run runs alone
    assert [r.slots for r in on_gpus.runs] == [1, 8]


def test_the_estimate_spans_the_probes_timings_and_at_least_ten_percent(tmp_path):
    study = load_study(write_study(tmp_path / "s.toml", widths=(64, 128)))
    rates = {shape_key(r.config): 1000.0 for r in study.runs}
    steady = make_plan(study, tokens_per_s=rates)
    assert steady.seconds_range == pytest.approx((0.9 * steady.seconds, 1.1 * steady.seconds))
    shaky = make_plan(study, tokens_per_s=rates, spread=(0.5, 1.5))  # a chunk ran at half the rate
    slow = make_plan(study, tokens_per_s={k: 500.0 for k in rates})
    fast = make_plan(study, tokens_per_s={k: 1500.0 for k in rates})
    assert shaky.seconds_range == pytest.approx((fast.seconds, slow.seconds))
    assert make_plan(study).seconds_range is None  # no probe, no estimate


def test_tokens_per_param_budget_uses_non_embedding_params(tmp_path):
    path = write_study(tmp_path / "s.toml", widths=[64], sweep={"tokens_per_param": [20, 40]})
    path.write_text(path.read_text().replace("tokens = 2048\n", ""))
    runs = make_plan(load_study(path), order="listed").runs
    n = runs[0].budget.params_non_embedding
    assert [r.budget.tokens >= t * n for r, t in zip(runs, (20, 40), strict=True)] == [True, True]
    assert runs[1].budget.tokens > runs[0].budget.tokens
    assert runs[0].spec.name == "w64-L1-base-20xN"


@pytest.mark.parametrize(("widths", "runs", "cpus", "expected"), [
    ([64, 128], 10, 2, (2, 1)),      # small models: many 1-thread workers (measured 1.05-1.32x)
    ([64, 128, 256], 10, 16, (10, 1)),  # never more workers than runs
    ([64], 1, 2, (1, 1)),           # one run: its own thread count, not every core (a run id is one result)
    ([512, 1024], 10, 8, (4, 2)),
    ([2048], 3, 16, (3, 4)),
])
def test_resources_from_cores_and_model_size(widths, runs, cpus, expected):
    res = choose_resources(widths, runs, cpus=cpus, gpus=0)
    assert (res.workers, res.threads) == expected
    assert choose_resources(widths, runs, cpus=cpus, gpus=0, workers=1, threads=1).workers == 1
    # Runs that set loop.threads reserve that many cores each.
    assert choose_resources(widths, runs, cpus=cpus, gpus=0, run_threads=[cpus]).workers == 1


@pytest.mark.parametrize(("widths", "runs", "gpus", "expected"), [
    ([128], 8, 1, (8, 0.125, 1)),    # a sweep of small models shares one GPU
    ([128], 3, 2, (3, 2 / 3, 2)),    # never more workers than runs; both devices used
    ([2048], 4, 2, (2, 1.0, 2)),     # big models: one per device
    ([2048], 1, 2, (1, 1.0, 1)),
])
def test_gpu_workers_share_devices_by_model_size(widths, runs, gpus, expected):
    res = choose_resources(widths, runs, cpus=16, gpus=gpus)
    assert (res.workers, res.gpus, res.devices) == expected
    assert res.threads == 16 // res.workers


def test_plan_command_prints_flops_without_training(tmp_path):
    path = write_study(tmp_path / "s.toml", widths=[64, 128])
    result = CliRunner().invoke(app, ["plan", str(path), "--no-probe", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [r["width"] for r in data["runs"]] == [128, 64]
    assert all(r["flops"] > 0 and r["seconds"] is None for r in data["runs"])
    assert data["totals"]["flops"] == pytest.approx(sum(r["flops"] for r in data["runs"]))
    table = CliRunner().invoke(app, ["plan", str(path), "--no-probe"], env={"COLUMNS": "120"})
    assert table.exit_code == 0 and "FLOPs" in table.stdout and "PFLOPs" in table.stdout
    assert not (tmp_path / "s").exists()  # nothing trained, nothing stored
