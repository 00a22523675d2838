"""Every bad setting is refused when the study is loaded: one line naming the key as written and the
value, exit 2, and nothing written (no database, no run folder). Each case here once passed
validation and failed inside training, or raised a traceback at load."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from scalinglab.cli import app
from scalinglab.config import RunConfig

# (TOML written into the study, the end of the expected error line)
BAD = [
    # Numbers that are not finite, or out of range.
    ("[budget]\ntokens = nan", "budget.tokens: must be a finite positive number, got nan"),
    ("[budget]\ntokens = inf", "budget.tokens: must be a finite positive number, got inf"),
    ("[budget]\ntokens_per_param = nan", "budget.tokens_per_param: must be a finite positive number, got nan"),
    ("[arms.a]\ntokens_per_param = 0", "arms.a.tokens_per_param: must be a finite positive number, got 0"),
    ("[model]\nmlp_ratio = nan", "model.mlp_ratio: must be a finite positive number, got nan"),
    ("[model]\nmlp_ratio = -4", "model.mlp_ratio: must be a finite positive number, got -4"),
    ("[model]\nmlp_ratio = 1e-9", "model.mlp_ratio: 1e-09 gives an MLP of 0 units at width 64"),
    ("[model]\nhead_dim = 0", "model.head_dim: must be an even number ≥ 2, got 0"),
    ("[model]\nhead_dim = -8", "model.head_dim: must be an even number ≥ 2, got -8"),
    ("[model]\nhead_dim = 3", "model.head_dim: must be an even number ≥ 2, got 3"),
    ("[arms.a]\nlr = -0.01", "arms.a.lr: must be a finite positive number, got -0.01"),
    ("[arms.a]\nlr = nan", "arms.a.lr: must be a finite positive number, got nan"),
    ("[arms.a]\nlr = inf", "arms.a.lr: must be a finite positive number, got inf"),
    ("[arms.a.optim]\nlr = 'nan'", "arms.a.optim.lr: must be a finite positive number, got nan"),
    ("[optim]\nbeta1 = 2.0", "optim.beta1: must be a finite number in [0, 1), got 2.0"),
    ("[optim]\neps = -1", "optim.eps: must be a finite number ≥ 0, got -1"),
    ("[arms.a]\nweight_decay = nan", "arms.a.weight_decay: must be a finite number ≥ 0, got nan"),
    ("[loop]\ndivergence_factor = nan", "loop.divergence_factor: must be a finite number > 1, got nan"),
    ("[loop]\neval_tokens = -1", "loop.eval_tokens: must be positive"),
    ("[loop]\nthreads = -3", "loop.threads: must be positive"),
    ("[data]\nmax_documents = 0", "data.max_documents: must be positive"),
    ("[schedule]\nfinal_fraction = 2", "schedule.final_fraction: must be a finite number in [0, 1], got 2"),
    ("seed = -1", "seed: must not be negative"),
    # Types: no bool for a number, no float for a whole number, no number for a bool.
    ("[arms.a]\nbatch_size = true", "arms.a.batch_size: expected a whole number, got true"),
    ("[arms.a]\nbatch_size = 1e17", "arms.a.batch_size: expected a whole number, got 1e+17"),
    ("[arms.a]\nbatch_size = 100000000000000000", "arms.a.batch_size: must be at most 1048576, got 100000000000000000"),
    ("[arms.a]\nqk_norm = 1", "arms.a.qk_norm: expected true or false, got 1"),
    ("[arms.a]\nlr = true", "arms.a.lr: expected a number or a rule such as '2/width', got true"),
    ("[sweep]\nseed = [0, true]", "sweep.seed: expected a whole number, got true"),
    ("[sweep]\nlr = [0.01, nan]", "sweep.lr: must be a finite positive number, got nan"),
    ("[sweep]\nlr = [{a = 1}]", "sweep.lr: expected numbers or strings, got {'a': 1}"),
    # Rules: division by zero, overflow, recursion, complex numbers, values out of range.
    ("[arms.a]\nlr = '1/0'", "arms.a.lr: '1/0' divides by zero"),
    ("[arms.a]\nlr = 'width/(width-64)'", "arms.a.lr: 'width/(width-64)' divides by zero at width 64"),
    ("[arms.a]\nlr = 'width/0'", "arms.a.lr: 'width/0' divides by zero at width 64"),
    ("[arms.a]\nlr = '9**9**9'", "arms.a.lr: '9**9**9' is too large a number"),
    ("[arms.a]\nlr = 'width**width**width'", "arms.a.lr: 'width**width**width' is too large a number at width 64"),
    ("[arms.a]\nlr = 'width*1e400'", "arms.a.lr: cannot parse 'width*1e400': 1e400 is too large a number"),
    ("[arms.a]\nlr = '" + "+".join(["1"] * 5000) + "'",
     "arms.a.lr: cannot parse '1+1+1+1+1+1+1+1+1+1+...': a rule may have at most 200 characters"),
    ("[arms.a]\nlr = '(-width)**0.5'", "arms.a.lr: '(-width)**0.5' is not a real number at width 64"),
    ("[arms.a]\nlr = 'width-64'", "arms.a.lr: must be a finite positive number, got 'width-64' = 0 at width 64"),
    ("[arms.a]\ndepth = '1/0'", "arms.a.depth: '1/0' divides by zero"),
    ("[arms.a]\ndepth = 'width**width'", "arms.a.depth: 'width**width' gives 3.94e+115 layers at width 64; at most 1024"),
    ("[arms.a]\ndepth = 1.5", "arms.a.depth: expected a whole number, got 1.5"),
    # Devices: a whole number of processes, each an equal share of every batch.
    ("[loop]\ndevices = 0", "loop.devices: must be a whole number from 1 to 4096, got 0"),
    ("[loop]\ndevices = 1.5", "loop.devices: expected a whole number, got 1.5"),
    ("[loop]\ndevices = '2.5'", "loop.devices: expected a whole number, got 2.5"),
    ("[loop]\ndevices = true", "loop.devices: expected a whole number, got true"),
    ("[loop]\ndevices = 3", "loop.devices: 3 does not divide budget.batch_size 16 (each device takes an equal share "
     "of every batch)"),
    ("[arms.a.loop]\ndevices = '1 if width < 128 else 3'", "arms.a.loop.devices: 3 (at width 128) does not divide "
     "budget.batch_size 16 (each device takes an equal share of every batch)"),
    ("[loop]\ndevices = 'width/100'", "loop.devices: 'width/100' gives 0.64 devices at width 64; a whole number from "
     "1 to 4096 is needed"),
    ("[loop]\ndevices = '1 if widht < 128 else 2'", "loop.devices: cannot parse '1 if widht < 128 else 2': unknown "
     "name 'widht' (did you mean 'width'?)"),
]


def _study(tmp_path, setting: str):
    sections = {"sweep": "width = [64, 128]", "arms.a": ""}
    head, _, body = setting.partition("\n")
    name = head.strip("[]") if head.startswith("[") else None
    if name is None:
        top = setting
    else:
        sections[name] = (sections.get(name, "") + "\n" + body).strip()
        top = ""
    text = top + "\n" + "".join(f"[{n}]\n{v}\n" for n, v in sections.items())
    path = tmp_path / "s.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("setting", "message"), BAD, ids=[m.partition(":")[0] + "-" + str(i) for i, (_, m) in enumerate(BAD)])
def test_a_bad_setting_is_one_line_before_anything_is_written(tmp_path, setting, message):
    path = _study(tmp_path, setting)
    result = CliRunner().invoke(app, ["run", str(path)])
    assert result.exit_code == 2, result.output
    assert result.stderr == f"error: {path}: {message}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]


def test_nan_and_inf_no_longer_share_a_run_id():
    # Both once serialised as JSON null: two different settings, one digest.
    for value in (float("nan"), float("inf")):
        with pytest.raises(ValidationError, match="must be a finite positive number"):
            RunConfig.model_validate({"optim": {"lr": value}})


def test_valid_settings_keep_their_run_ids():
    # The stricter types convert as before: a study's existing results are still found.
    cfg = RunConfig.model_validate({"model": {"mlp_ratio": 4}, "budget": {"tokens": 2048}})
    assert cfg.model.mlp_ratio == 4.0 and cfg.budget.tokens == 2048.0
    assert cfg.digest() == RunConfig.model_validate({"model": {"mlp_ratio": 4.0}, "budget": {"tokens": 2048.0}}).digest()
    assert RunConfig().digest() == "dfee39889c"  # as before these checks
    # A run on one device keeps the id it had before loop.devices existed, however it is written.
    assert RunConfig.model_validate({"loop": {"devices": 1}}).digest() == "dfee39889c"
    assert RunConfig.model_validate({"loop": {"devices": 2}}).digest() != "dfee39889c"
