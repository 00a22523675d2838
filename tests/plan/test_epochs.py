"""Repeated data in plans and exports: epochs per run, one warning naming the widths, deliberate caps."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from scalinglab.cli import app
from scalinglab.config import load_study
from scalinglab.data import cached_train_tokens, load_tokens
from scalinglab.data.epochs import unique_train_tokens
from scalinglab.plan import make_plan
from scalinglab.plan.epochs import data_use
from scalinglab.store import Store, export_table, study_paths
from scalinglab.train.result import RunResult
from tests.study_files import write_study

CAP = 8 * 32 + 1  # one batch of 8 rows of 32


def _study(tmp_path, arms=None):
    """Widths 64 and 128 at 20 tokens per parameter: 0.98M and 3.9M tokens, around the ~2.7M-token
    train split of 200 stdlib files in bytes."""
    path = write_study(tmp_path / "s.toml", widths=[64, 128], arms=arms)
    path.write_text(path.read_text().replace("tokens = 2048\n", "tokens_per_param = 20\n"))
    return path


def _plan_json(path) -> dict:
    result = CliRunner().invoke(app, ["plan", str(path), "--no-probe", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_plan_shows_epochs_and_one_warning_naming_the_widths_that_repeat(tmp_path):
    path = _study(tmp_path)
    data = load_study(path).runs[0].config.data
    load_tokens(data)  # the cache `run` builds first (shared by the session's tests)
    unique = unique_train_tokens(cached_train_tokens(data), 32)
    runs = {r["width"]: r for r in _plan_json(path)["runs"]}
    epochs = {w: r["epochs"] for w, r in runs.items()}
    assert epochs == {w: pytest.approx(r["tokens"] / unique) for w, r in runs.items()}
    assert epochs[64] < 1 < epochs[128]
    result = CliRunner().invoke(app, ["plan", str(path), "--no-probe"])
    warnings = [line for line in result.stdout.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "runs at width 128 repeat data: up to" in warnings[0], result.stdout
    assert f"{epochs[128]:.3g} epochs" in warnings[0] and "max_train_tokens" in warnings[0]


def test_a_deliberate_cap_is_a_note_and_counts_epochs_against_the_cap(tmp_path):
    path = _study(tmp_path, arms={"full": {}, "slice": {"max_train_tokens": CAP}})
    load_tokens(load_study(path).runs[0].config.data)
    doc = _plan_json(path)
    capped = [r for r in doc["runs"] if r["arm"] == "slice"]
    assert all(r["unique_tokens"] == 256 and r["epochs"] == pytest.approx(r["tokens"] / 256) for r in capped)
    texts = [n["text"] for n in doc["notes"] if n["kind"] == "note"]
    assert any(t.startswith("2 runs at widths 64, 128 repeat data by design") for t in texts), texts
    warned = [n["text"] for n in doc["notes"] if n["kind"] == "warning"]
    assert len(warned) == 1 and "width 128 repeat" in warned[0]  # the uncapped arm's width 128 only


def test_an_unbuilt_split_is_unknown_until_the_plan_may_build_it(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALINGLAB_CACHE", str(tmp_path / "fresh-cache"))
    path = _study(tmp_path, arms={"full": {}, "slice": {"max_train_tokens": CAP}})
    doc = _plan_json(path)
    full = [r for r in doc["runs"] if r["arm"] == "full"]
    assert all(r["epochs"] is None for r in full)
    slice_ = [r for r in doc["runs"] if r["arm"] == "slice"]  # at most CAP unique tokens: at least this many epochs
    assert all(r["epochs_at_least"] and r["epochs"] == pytest.approx(r["tokens"] / CAP) for r in slice_)
    assert any("train split size unknown: its token cache is not built yet" in n["text"] for n in doc["notes"])
    uses = data_use(make_plan(load_study(path)).runs, build=True)
    assert {u.split.known for u in uses.values()} == {"built"} and all(u.epochs is not None for u in uses.values())


def test_a_cap_below_one_batch_is_one_line_naming_the_key_and_writes_nothing(tmp_path):
    path = _study(tmp_path, arms={"slice": {"max_train_tokens": 100}})
    for command in ("plan", "run"):
        result = CliRunner().invoke(app, [command, str(path)])
        assert result.exit_code == 2
        assert result.stderr.strip() == (f"error: {path}: arms.slice.max_train_tokens: 100 is less than one batch, "
                                         "batch_size × seq_len + 1 = 8 × 32 + 1 = 257 tokens (the + 1: the last row's "
                                         "last target)")
    assert not (tmp_path / "s").exists()


def test_every_result_carries_its_epochs_into_the_export(tmp_path):
    path = _study(tmp_path, arms={"slice": {"max_train_tokens": CAP}})
    study = load_study(path)
    spec = study.runs[0]
    result = RunResult(status="complete", steps=4, steps_planned=4, tokens=1024, params_non_embedding=100,
                       params_total=200, flops=1e9, flops_6nd=6e8, vocab_size=258, lr=0.01, depth=1,
                       unique_tokens=256, epochs=4.0, final_train_loss=1.0, final_eval_loss=3.0,
                       final_eval_loss_se=0.01, initial_eval_loss=5.5, wall_time_s=1.0, tokens_per_s=1e3, device="cpu")
    with Store.open_writer(study_paths(tmp_path / "s").db) as store:
        store.add_runs(study.runs)
        store.record_result(spec.run_id, result, host="h")
    table = export_table(study, tmp_path / "s").set_index("run_id")
    assert (table.loc[spec.run_id, ["max_train_tokens", "unique_tokens", "epochs"]] == [CAP, 256, 4.0]).all()
    assert table.loc[study.runs[1].run_id, ["epochs"]].isna().all()  # no result yet


def test_the_two_regimes_study_pairs_every_recipe_with_its_many_epoch_twin(tmp_path, monkeypatch):
    from pathlib import Path

    from scalinglab.report.regimes.findings import recipes

    monkeypatch.setenv("SCALINGLAB_CACHE", str(tmp_path))  # no cache: the plan knows only the cap
    study = load_study(Path(__file__).resolve().parents[2] / "studies" / "two-regimes-cpu.toml")
    uses = data_use(make_plan(study).runs)
    capped = [r for r in study.runs if r.config.data.max_train_tokens is not None]
    assert {r.arm for r in capped} == {"rep-baseline", "rep-l2", "rep-small-batch", "rep-large-lr"}
    assert min(uses[r.run_id].epochs for r in capped) > 7  # many epochs at every width, even before the split is known
    assert recipes(study) == {arm: arm.removeprefix("rep-") for arm in study.arms}
