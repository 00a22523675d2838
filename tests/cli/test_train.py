"""`scalinglab train` with bad flags, settings or output folders: one line naming the cause, exit 2,
nothing left behind."""

from __future__ import annotations

import pytest
import tomli_w
from typer.testing import CliRunner

from scalinglab.cli import app
from tests.conftest import tiny_settings


def _fails_cleanly(args: list[str], *expected: str) -> str:
    result = CliRunner().invoke(app, ["train", *args])
    assert result.exit_code == 2, result.output
    # `output: DIR` is said before the data is read; a folder that fails only when made comes after.
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("output: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(("args", "expected"), [
    (["--width", "0"], "error: --width: must be positive"),
    (["--width", "100"], "error: --width: 100 is not a multiple of head_dim 64"),
    (["--seed", "-1"], "error: --seed: must not be negative"),
    (["--tokens", "nan"], "error: --tokens: must be a finite positive number, got nan"),
    (["--width", "64", "--set", "model.width=0"], "error: --set: model.width: must be positive"),
    (["--set", "loop.devices=3"], "error: --set: loop.devices: 3 does not divide budget.batch_size 16 (each device "
     "takes an equal share of every batch)"),
    (["--set", "loop.devices=2"], "error: loop.devices: 2 needs 2 processes: start them with `torchrun "
     "--nproc-per-node 2 -m scalinglab train ...` (a study starts them itself)"),
    # A flag's value is set as it is, not pasted into TOML text (where this one became lr = 1 and
    # another key), and the error stays one line.
    (["--lr", '1" \nx = "'], "error: --lr: cannot parse '1\" \\nx = \"' as a number or a rule such as '2/width' "
                             "(unterminated string literal at character 2)"),
    (["--depth", '1"\nx="'], "error: --depth: cannot parse '1\"\\nx=\"' as a number or a rule such as '2/width'"),
    (["--set", "data.cache_dir=/proc/scalinglab-cache"],
     "error: --set: data.cache_dir: /proc/scalinglab-cache: cannot create or write: /proc is not writable"),
])
def test_an_error_names_the_flag_the_user_typed(tmp_path, args, expected):
    assert _fails_cleanly([*args, "--out", str(tmp_path / "r")]).startswith(expected)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(("args", "needle"), [
    (["--set", "optim.lr2=0.1"], "optim.lr2: unknown key"),
    (["--lr", "2/widht"], "did you mean 'width'"),
    (["--config", "missing.toml"], "missing.toml: file not found"),
    (["--set", "data.tokenizer=sentencepiece:nowhere.model"], "nowhere.model"),
    (["--set", "data.source=files:nothing/*.txt"], "nothing/*.txt"),
])
def test_bad_settings_and_files_are_one_line_and_write_nothing(tmp_path, monkeypatch, args, needle):
    monkeypatch.chdir(tmp_path)
    _fails_cleanly([*args, "--out", str(tmp_path / "out")], needle)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("where", "expected"), [
    ("afile", "{out}: is a file, not a folder"),
    ("afile/run", "{out}: {tmp}/afile is a file, not a folder"),
    ("afile/deeper/run", "{out}: {tmp}/afile is a file, not a folder"),
    # Refused before anything is made, for root too (whom access() lets write anywhere): a file is tried.
    ("/sys/scalinglab-test/run", "{out}: cannot create or write: /sys is not writable"),
])
def test_an_unusable_output_folder_is_one_line(tmp_path, where, expected):
    (tmp_path / "afile").write_text("not a folder")
    config = tmp_path / "run.toml"
    config.write_text(tomli_w.dumps(tiny_settings()))
    out = tmp_path / where
    line = _fails_cleanly(["--config", str(config), "--out", str(out)])
    assert line.startswith("error: " + expected.format(out=out, tmp=tmp_path))  # the reason may follow
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "run.toml"]
