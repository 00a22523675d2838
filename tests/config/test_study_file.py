"""Study files: expansion into runs, stable ids, and one-line errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from scalinglab.config import ConfigError, load_study
from tests.study_files import write_study

ARMS = {"constant": {"lr": "2/128"}, "scaled": {"lr": "2/width"}}


def test_runs_are_the_product_of_arms_and_sweep_axes(tmp_path):
    study = load_study(write_study(tmp_path / "s.toml", widths=[64, 128, 192], arms=ARMS, sweep={"seed": [0, 1]}))
    assert len(study.runs) == 2 * 3 * 2
    assert study.arms == ("constant", "scaled")
    assert len({r.run_id for r in study.runs}) == len(study.runs)
    scaled_192 = next(r for r in study.runs if r.arm == "scaled" and r.width == 192 and r.config.seed == 1)
    # Rules are evaluated into the run's config: it says everything about the run.
    assert scaled_192.config.optim.lr == pytest.approx(2 / 192)
    assert scaled_192.config.model.width == 192 and scaled_192.config.model.depth == 1
    assert scaled_192.run_id.startswith("w192-L1-scaled-s1-2.05ktok-")


def test_no_arms_means_one_base_arm(tmp_path):
    study = load_study(write_study(tmp_path / "s.toml", widths=[64, 128]))
    assert [r.arm for r in study.runs] == ["base", "base"]


def test_ids_are_stable_and_growing_a_study_adds_only_new_runs(tmp_path):
    before = {r.run_id for r in load_study(write_study(tmp_path / "a.toml", widths=[64, 128], arms=ARMS)).runs}
    again = {r.run_id for r in load_study(write_study(tmp_path / "b.toml", widths=[64, 128], arms=ARMS)).runs}
    assert before == again  # a pure function of the content, not of the file or the moment
    wider = {r.run_id for r in load_study(write_study(tmp_path / "c.toml", widths=[64, 128, 192], arms=ARMS)).runs}
    assert before < wider and all(r.startswith("w192-") for r in wider - before)
    changed = {**ARMS, "scaled": {"lr": "3/width"}}
    changed_ids = {r.run_id for r in load_study(write_study(tmp_path / "d.toml", widths=[64, 128], arms=changed)).runs}
    assert {r for r in before if "-constant-" in r} <= changed_ids  # the other arm keeps its runs
    assert not {r for r in before if "-scaled-" in r} & changed_ids


def test_shorthand_and_section_tables_mean_the_same(tmp_path):
    short = load_study(write_study(tmp_path / "a.toml", arms={"x": {"lr": 0.02, "qk_norm": False, "batch_size": 4}}))
    long = load_study(write_study(tmp_path / "b.toml", arms={
        "x": {"optim": {"lr": 0.02}, "model": {"qk_norm": False}, "budget": {"batch_size": 4}}}))
    assert short.runs[0].config == long.runs[0].config


def test_arms_meeting_at_one_width_share_a_digest(tmp_path):
    # constant 2/128 and 2/width are the same training run at width 128: same digest, trained once.
    study = load_study(write_study(tmp_path / "s.toml", widths=[64, 128], arms=ARMS))
    at = {(r.arm, r.width): r.digest for r in study.runs}
    assert at[("constant", 128)] == at[("scaled", 128)]
    assert at[("constant", 64)] != at[("scaled", 64)]


@pytest.mark.parametrize(("arms", "sweep", "extra", "message"), [
    ({"scaled": {"lrr": 0.1}}, None, "", "s.toml: arms.scaled.lrr: unknown key (did you mean 'lr'?)"),
    ({"scaled": {"lr": "2/widht"}}, None, "", "s.toml: arms.scaled.lr: cannot parse '2/widht': unknown name 'widht' (did you mean 'width'?)"),
    ({"scaled": {"model": {"qk_nrom": True}}}, None, "", "s.toml: arms.scaled.model.qk_nrom: unknown key"),
    ({"scaled": {"width": 128}}, None, "", "s.toml: arms.scaled.width: widths are set by sweep.width, not by an arm"),
    ({"scaled": {"batch_size": 0}}, None, "", "s.toml: arms.scaled.batch_size: must be at least 1"),
    ({"a": {"lr": 0.1}}, {"lr": [0.1, 0.2]}, "", "s.toml: arms.a.lr: also swept by sweep.lr; set it in one place"),
    (None, {"seed": []}, "", "s.toml: sweep.seed: must list at least one value"),
    (None, {"depth": [1, 0]}, "", "s.toml: sweep.depth: '0' gives 0 layers at width 64"),
    (None, None, "[optim]\nlr = \"1/wdth\"\n", "s.toml: optim.lr: cannot parse '1/wdth': unknown name 'wdth' (did you mean 'width'?)"),
    (None, None, "[sweeps]\nwidth = [64]\n", "s.toml: sweeps: unknown key"),
])
def test_errors_name_the_key_as_written(tmp_path, arms, sweep, extra, message):
    path = write_study(tmp_path / "s.toml", arms=arms, sweep=sweep, extra=extra)
    with pytest.raises(ConfigError) as err:
        load_study(path)
    assert str(err.value) == f"{tmp_path}/{message}"


def test_widths_come_from_the_sweep_only(tmp_path):
    path = write_study(tmp_path / "s.toml")
    path.write_text(path.read_text().replace("[model]\n", "[model]\nwidth = 64\n"))
    with pytest.raises(ConfigError, match=r"s.toml: model.width: widths are set by sweep.width$"):
        load_study(path)


def test_width_must_be_a_multiple_of_head_dim(tmp_path):
    with pytest.raises(ConfigError, match=r"s.toml: sweep.width: 100 is not a multiple of head_dim 64$"):
        load_study(write_study(tmp_path / "s.toml", widths=[64, 100]))
    with pytest.raises(ConfigError, match=r"s.toml: sweep.width: must list at least one value$"):
        load_study(write_study(tmp_path / "s.toml", widths=[]))


def test_missing_sweep_and_unreadable_files(tmp_path):
    (tmp_path / "nosweep.toml").write_text("[model]\ndepth = 1\n")
    with pytest.raises(ConfigError, match="nosweep.toml: sweep: Field required"):
        load_study(tmp_path / "nosweep.toml")
    with pytest.raises(ConfigError, match="missing.toml: file not found"):
        load_study(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_bytes(b"[sweep\nwidth = 1")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        load_study(tmp_path / "bad.toml")
    (tmp_path / "latin1.toml").write_bytes('[study]\nname = "étude"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1.toml: not UTF-8 text \(byte 16\)"):
        load_study(tmp_path / "latin1.toml")


def test_an_arm_name_is_checked_whole(tmp_path):
    # A `$` anchor let "a\n" through: run ids and folders then held a newline.
    path = tmp_path / "s.toml"
    path.write_text('[sweep]\nwidth = [64]\n[arms."a\\n"]\nlr = 0.01\n')
    with pytest.raises(ConfigError) as err:
        load_study(path)
    assert str(err.value) == f"{path}: arms.a\\n: arm names may use letters, digits and _ . + - only"


def test_long_arm_names_give_run_ids_of_bounded_length_that_stay_apart(tmp_path):
    long = "x" * 300
    # Two arms that differ only past the cut, with the same settings: one digest, so only the
    # hash of the whole name keeps their ids apart.
    study = load_study(write_study(tmp_path / "s.toml", arms={long + "a": {"lr": 0.01}, long + "b": {"lr": 0.01}}))
    ids = [r.run_id for r in study.runs]
    assert len(set(ids)) == 2 and study.runs[0].digest == study.runs[1].digest
    assert all(len(i) <= 107 and i.startswith("w64-L1-xxx") for i in ids)  # a file name is at most 255 bytes
    short = load_study(write_study(tmp_path / "t.toml", arms={"a": {"lr": 0.01}}))
    assert short.runs[0].run_id == f"w64-L1-a-2.05ktok-{short.runs[0].digest}"  # short names are unchanged


@pytest.mark.parametrize("text", [
    "x = " + "[" * 100_000 + "]" * 100_000,     # the TOML parser's own stack
    "[" + ".".join(["a"] * 100_000) + "]\n",    # read, then too deep for anything that walks it
    "[sweep]\nwidth = [64]\n[model]\ndepth = " + "[" * 20 + "]" * 20,
])
def test_a_file_nested_deep_is_one_line(tmp_path, text):
    path = tmp_path / "deep.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"deep.toml: (not valid TOML: )?nested more than 16 levels deep$"):
        load_study(path)


def test_a_cache_folder_that_cannot_be_written_is_refused_at_load(tmp_path):
    # /proc: no one can make a folder there, root included (whom access() lets write anywhere).
    path = write_study(tmp_path / "s.toml", cache_dir=Path("/proc/scalinglab-cache"))
    with pytest.raises(ConfigError, match=r"s.toml: data.cache_dir: /proc/scalinglab-cache: cannot create or write: "
                                          r"/proc is not writable"):
        load_study(path)
    assert load_study(write_study(tmp_path / "t.toml", cache_dir=tmp_path / "new" / "cache")).runs
    assert not (tmp_path / "new").exists()  # checked, not made
