"""The advisor on a real tiny study: `next` ranks runs, `run --adaptive` trains them, records why, resumes."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from typer.testing import CliRunner

from scalinglab.analysis import compare_arms
from scalinglab.analysis.advising.advice import PlanForecast, advise
from scalinglab.analysis.evaluating.synthetic import table
from scalinglab.cli import app
from scalinglab.config import ConfigError, load_study
from scalinglab.execute import Observer
from scalinglab.execute.adaptive import Look, StudyAdvice, _decide, run_adaptive, seed_runs
from scalinglab.report.sentences import decision_reason
from scalinglab.store import Store, export_table, load_decisions, study_paths
from tests.study_files import write_study

runner = CliRunner()
ARMS = {"small_lr": {"lr": 0.003}, "big_lr": {"lr": 0.03}}


@pytest.fixture(scope="module")
def adaptive(tmp_path_factory):
    folder = tmp_path_factory.mktemp("adaptive")
    path = write_study(folder / "tiny.toml", widths=(16, 32, 48, 64), arms=ARMS, tokens=1024)
    path.write_text(path.read_text().replace("[model]\ndepth = 1", "[model]\ndepth = 1\nhead_dim = 16"))
    study = load_study(path)
    decisions = []
    last = run_adaptive(study, study.default_out_dir(), budget=1e12, workers=2, draws=800,
                        on_decision=decisions.append)
    return study, decisions, last


@pytest.mark.slow
def test_adaptive_starts_with_the_smallest_widths_then_follows_the_advice(adaptive):
    study, decisions, last = adaptive
    assert decisions[0].action == "train" and "smallest widths first" in said(decisions[0])
    widths = {r.run_id: r.width for r in study.runs}
    assert {widths[r] for r in decisions[0].runs} == {16, 32, 48}
    assert last.action in ("settled", "out_of_reach", "budget", "exhausted")
    for d in decisions[1:-1]:
        assert d.action == "train" and "expected drop" in said(d) and d.runs
        assert "training the rest of the plan (" in said(d)  # each round says what the untrained runs could do
    stored = load_decisions(study)
    assert list(stored["step"]) == list(range(len(decisions)))
    assert stored["action"].iloc[-1] == last.action
    trained = set(export_table(study).query("status == 'complete'")["run_id"])
    chosen = {r for d in decisions for r in json.loads(stored["runs"].iloc[d.step])}
    assert trained == chosen  # nothing trained that was not chosen, nothing chosen left untrained


@pytest.mark.slow
def test_a_rerun_resumes_from_the_results_and_trains_nothing_twice(adaptive):
    study, decisions, last = adaptive
    before = len(load_decisions(study))
    again = run_adaptive(study, study.default_out_dir(), budget=1e12, workers=2, draws=800)
    # The same results decide the same: the last decision again, not a row repeating it.
    assert (again.action, again.step) == (last.action, last.step)
    assert len(load_decisions(study)) == before


@pytest.mark.slow
def test_next_ranks_what_is_left_and_prints_json(adaptive):
    study, _, _ = adaptive
    res = runner.invoke(app, ["next", str(study.path), "--no-probe", "--draws", "800", "--json"])
    assert res.exit_code == 0, res.output
    advice = json.loads(res.stdout)
    assert 0 <= advice["p_b_better"] <= 1 and advice["a"] == "small_lr"
    assert advice["can_settle"] is False  # four widths per arm: not every joint model can be weighed
    costs = [c["gain_per_flop"] for c in advice["candidates"]]
    assert costs == sorted(costs, reverse=True)



def said(decision) -> str:
    """A decision's reason as the terminal and the report word it."""
    return decision_reason(decision.why, *decision.arms)

def test_next_refuses_what_it_cannot_advise_on(tmp_path):
    one = write_study(tmp_path / "one.toml", widths=(64, 128), tokens=1024)
    res = runner.invoke(app, ["next", str(one), "--no-probe"])
    assert res.exit_code == 2 and "one arm (base)" in res.output
    two = write_study(tmp_path / "two.toml", widths=(64, 128), arms=ARMS, tokens=1024)
    res = runner.invoke(app, ["next", str(two), "--no-probe"])
    assert res.exit_code == 2 and "arm 'small_lr' has no finished run yet" in res.output
    assert not (tmp_path / "two").exists()  # nothing written
    res = runner.invoke(app, ["next", str(two), "--error-rate", "0.7"])
    assert res.exit_code == 2 and "--error-rate: must be a finite number in (0, 0.5), got 0.7" in res.output
    res = runner.invoke(app, ["next", str(two), "--settle", "nan"])
    assert res.exit_code == 2 and "--settle: must be a finite number in (0, 0.5), got nan" in res.output
    res = runner.invoke(app, ["run", str(two), "--adaptive"])
    assert res.exit_code == 2 and "--adaptive and --budget" in res.output
    res = runner.invoke(app, ["run", str(two), "--adaptive", "--budget", "10"])  # not even the first round fits
    assert res.exit_code == 2 and res.output.startswith("error: --budget: 10 FLOPs is below what the first round needs")
    assert len(res.output.strip().splitlines()) == 1 and not (tmp_path / "two").exists()
    with pytest.raises(ConfigError, match="^budget: must be a finite positive number, got -1.0$"):
        run_adaptive(load_study(two), tmp_path / "out", budget=-1.0)


@pytest.mark.slow
def test_a_budget_below_the_cheapest_run_is_refused(adaptive):
    study, _, _ = adaptive
    res = runner.invoke(app, ["next", str(study.path), "--no-probe", "--budget", "10"])
    assert res.exit_code == 2 and "--budget: 10 FLOPs is below the cheapest run to train" in res.output


class _Killed(Exception):
    """Stands for a SIGKILL of the driver once a round's runs have started."""


class _KillOnStart(Observer):
    def on_start(self, plan, todo, skipped):
        raise _Killed


def test_a_study_killed_mid_round_does_not_record_its_decision_again(tmp_path):
    path = write_study(tmp_path / "tiny.toml", widths=(16, 32, 48, 64), arms=ARMS, tokens=1024)
    path.write_text(path.read_text().replace("[model]\ndepth = 1", "[model]\ndepth = 1\nhead_dim = 16"))
    study = load_study(path)
    for _ in range(2):  # killed, resumed and killed again in the same round, as two kill -9s did
        with pytest.raises(_Killed):
            run_adaptive(study, study.default_out_dir(), budget=1e12, workers=2, observer=_KillOnStart())
    # The resumed study decided the same on the same results: one row, not one per resumption.
    assert list(load_decisions(study)["action"]) == ["train"]


@pytest.mark.slow
def test_a_run_that_fails_stops_the_study_instead_of_being_chosen_again(tmp_path):
    arms = {"ok": {}, "broken": {"data": {"source": f"files:{tmp_path / 'missing'}/*.txt"}}}
    path = write_study(tmp_path / "tiny.toml", widths=(16, 32, 48), arms=arms, tokens=1024)
    path.write_text(path.read_text().replace("[model]\ndepth = 1", "[model]\ndepth = 1\nhead_dim = 16"))
    study = load_study(path)
    decisions = []
    last = run_adaptive(study, study.default_out_dir(), budget=1e12, workers=2, draws=400,
                        on_decision=decisions.append)
    assert [d.action for d in decisions] == ["train", "failed"]
    assert last.action == "failed" and "broken" in said(last) and "did not finish" in said(last)
    assert list(load_decisions(study)["action"]) == ["train", "failed"]


@pytest.mark.slow
def test_a_config_both_arms_share_is_trained_once_and_counts_for_each_arm(tmp_path):
    arms = {"constant": {"lr": "2/16"}, "scaled": {"lr": "2/width"}}  # equal at width 16: one run
    path = write_study(tmp_path / "tiny.toml", widths=(16, 32, 48), arms=arms, tokens=1024)
    path.write_text(path.read_text().replace("[model]\ndepth = 1", "[model]\ndepth = 1\nhead_dim = 16"))
    study = load_study(path)
    decisions = []
    run_adaptive(study, study.default_out_dir(), budget=1e12, workers=2, draws=400, on_decision=decisions.append)
    table = export_table(study)
    pivot = table[table["width"] == 16]
    assert len(pivot) == 2 and pivot["digest"].nunique() == 1
    assert (pivot["status"] == "complete").all() and pivot["loss"].nunique() == 1
    assert len(json.loads(load_decisions(study)["runs"].iloc[0])) == 5  # trained once: 16 shared, 32 and 48 each


def test_the_first_round_brings_the_replicates_at_its_widths_and_no_others(tmp_path):
    # The second seeds measure the noise the fixed ladder's comparison is judged by; at the smallest
    # widths they are cheap, at the top they would cost as much as a rung and tell nothing of the curves.
    arms = {"constant": {"lr": "2/32"}, "scaled": {"lr": "2/width"}}
    path = write_study(tmp_path / "tiny.toml", widths=(16, 32, 48, 64), arms=arms,
                       extra="\n[replicates]\nwidth = [32, 64]\nseed = [1]\n")
    path.write_text(path.read_text().replace("[model]\ndepth = 1", "[model]\ndepth = 1\nhead_dim = 16"))
    study = load_study(path)
    first = seed_runs(study, ("constant", "scaled"), done=set())
    seeded = sorted((r.arm, r.width) for r in first if "seed" in r.axes)
    assert seeded == [("constant", 32)] or seeded == [("scaled", 32)]  # the pivot's second seed, shared: once
    assert sorted({r.width for r in first}) == [16, 32, 48]
    assert len(first) == 6  # 16 and 48 of each arm, 32 and its second seed (each shared); not the seed at 64
    done = {r.digest for r in first}
    assert seed_runs(study, ("constant", "scaled"), done) == []


def test_a_sweep_whose_rest_would_not_settle_it_stops_the_study(tmp_path):
    # An open decision (planted 'never' at five rungs), with a plan whose every likely outcome leaves
    # it open: training the rest would buy nothing, so the study stops and says why.
    df, _ = table("never", seed=1)
    small = df[df["params"] <= 3e7]
    small.attrs = df.attrs
    target = 10 * float(df["compute"].max())
    comparison = compare_arms(small, "a", "b", draws=800, target_compute=target, backtest=False)
    open_advice = advise(comparison, [])
    assert open_advice.can_settle and not open_advice.settled and not open_advice.out_of_reach
    stuck = replace(open_advice, plan=PlanForecast(6, 0.8, np.full(200, open_advice.p), np.zeros(200)))
    decision = _decide(tmp_path, Look(("a", "b"), target, StudyAdvice(comparison, stuck, {}, spent=1.0), 1.0, 1e30), 2)
    assert decision.action == "out_of_reach" and not decision.runs
    assert "training the rest of the plan (6 runs) would reach a verdict at this look's level (95.00%) in 0%" in said(decision)
    reader = Store.open_reader(study_paths(tmp_path).db)
    with reader:
        assert [d["action"] for d in reader.decisions()] == ["out_of_reach"]


@pytest.mark.slow
def test_next_says_so_while_p_cannot_settle_yet(adaptive):
    study, _, _ = adaptive  # four widths per arm: too few runs to weigh the models with most parameters
    res = runner.invoke(app, ["next", str(study.path), "--no-probe", "--draws", "800"])
    assert res.exit_code == 0 and "not every joint model can be weighed yet" in " ".join(res.output.split())


def test_a_look_with_a_verdict_settles_once_every_model_is_weighed(tmp_path):
    # A crossing planted inside the ladder, every rung seen: the verdict names the steeper arm and the
    # study stops at that look. Three rungs per arm say as much, but not every joint model can be
    # weighed yet, so the study goes on.
    df, _ = table("inside", seed=0)
    target = 10 * float(df["compute"].max())
    whole = compare_arms(df, "a", "b", draws=800, target_compute=target, backtest=False)
    advice = StudyAdvice(whole, advise(whole, []), {}, spent=1.0)
    assert advice.advice.settled and advice.advice.verdict == "b" and advice.advice.p > 0.975
    decision = _decide(tmp_path / "whole", Look(("a", "b"), target, advice, 1.0, 1e30), 2)
    assert decision.action == "settled" and said(decision).startswith("b better") and "every joint model weighed" \
        in said(decision)
    small = df[df["params"] <= np.sort(df["params"].unique())[2]]
    small.attrs = df.attrs
    few = advise(compare_arms(small, "a", "b", draws=800, target_compute=target, backtest=False), [])
    assert not (few.can_settle or few.settled)
    # A stricter look (early in a sequential study) does not settle on the same draws.
    strict = advise(whole, [], level=1 - 1e-6)
    assert strict.verdict == "uncertain" and not strict.settled