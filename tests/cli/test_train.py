"""`scalinglab train` with bad flags, settings or output folders: one line naming the cause, exit 2,
nothing left behind."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from scalinglab.cli import app


def _fails_cleanly(args: list[str], *expected: str) -> str:
    result = CliRunner().invoke(app, ["train", *args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
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
])
def test_an_error_names_the_flag_the_user_typed(tmp_path, args, expected):
    assert _fails_cleanly([*args, "--out", str(tmp_path / "r")]) == expected
    assert not (tmp_path / "r").exists()
