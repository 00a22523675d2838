"""Studies with made-up results: a table in the store's export columns, losses from known laws.

No training: the study file is real (so runs, budgets and labels are the planner's), the losses
are drawn from power laws whose crossing and optima are known, with small multiplicative noise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from scalinglab.analysis.fitting.constrained import DATA_CONSTRAINED
from scalinglab.config import load_study
from scalinglab.report.collect import StudyData, study_data
from scalinglab.store import export_table

# L(C) = E + A·C^-α per arm. "constant" is ahead at small compute, "scaled" from C* on.
LAWS = {"constant": (1.9, 22.3, 0.08), "scaled": (2.0, 40.0, 0.10)}
CROSSING = 1.0e14
"""Where the two laws above meet (solved by hand: both give 3.592 there)."""

CROSSING_TOML = """
[study]
description = "Synthetic: constant vs scaled LR, crossing at 1e14 FLOPs."
[model]
depth = "width/64"
[data]
tokenizer = "bytes"
[sweep]
width = [64, 128, 192, 256, 320, 384]
[arms.constant]
lr = "2/192"
[arms.scaled]
lr = "2/width"
"""

LR_TOML = """
[study]
description = "Synthetic: an LR sweep per width, diverging above 8x the optimum."
[model]
depth = 2
[data]
tokenizer = "bytes"
[sweep]
width = [64, 128, 256]
lr = [0.00048828125, 0.0009765625, 0.001953125, 0.00390625, 0.0078125, 0.015625, 0.03125, 0.0625]
"""

L2_TOML = """
[study]
description = "Synthetic: an L2 penalty in the loss, with and without weight decay."
[model]
depth = 2
[data]
tokenizer = "bytes"
[sweep]
width = [64, 128, 256]
l2 = [0.0, 0.0001, 0.001]
[arms.coupled]
decay_mode = "coupled"
[arms.none]
decay_mode = "none"
"""
LR_BATCH_TOML = """
[study]
description = "Synthetic: LR and batch size swept together at a fixed token budget."
[model]
depth = 2
[data]
tokenizer = "bytes"
[budget]
tokens = 1_000_000
[sweep]
width = [64]
batch_size = [8, 16, 32, 64]
lr = [0.00390625, 0.0078125, 0.015625, 0.03125, 0.0625]
"""
BATCH_TOML = """
[study]
description = "Synthetic: a batch-size sweep per width at a fixed LR, its best batch growing with width."
[model]
depth = 2
[data]
tokenizer = "bytes"
[budget]
tokens = 1_000_000
[sweep]
width = [64, 128, 256]
batch_size = [4, 8, 16, 32, 64]
"""
LADDER_TOML = """
[study]
description = "Synthetic: one recipe over a width ladder (learning dynamics)."
[model]
depth = 2
head_dim = 16
[data]
tokenizer = "bytes"
[sweep]
width = [32, 64, 96, 128]
"""
L2_COST = 100.0
"""Made-up nats of loss per unit of L2 λ (0.1 at λ = 1e-3); weight decay gains a flat 0.02."""


CURVE_STEPS = np.arange(1, 11) * 10


def curves(table) -> pd.DataFrame:
    """Learning curves ending at each complete run's final losses: the loss falls as step^-0.3 from
    ln(256) (a byte model at init) towards them; eval every other logged step."""
    rows = []
    for row in table[table["status"] == "complete"].itertuples():
        shape = (CURVE_STEPS / CURVE_STEPS[-1]) ** -0.3
        train = row.final_train_loss + (shape - 1) * 0.4
        ev = np.where(CURVE_STEPS % 20 == 0, row.final_eval_loss + (shape - 1) * 0.4, np.nan)
        rows.append(pd.DataFrame({"run_id": row.run_id, "arm": row.arm, "width": row.width, "step": CURVE_STEPS,
                                  "tokens": CURVE_STEPS * 1000, "train_loss": train, "eval_loss": ev}))
    return pd.concat(rows, ignore_index=True)


def law(arm: str, compute):
    e, a, alpha = LAWS[arm]
    return e + a * np.asarray(compute, dtype=float) ** -alpha


def _complete(table, loss, rng, noise: float):
    table["loss"] = table["final_eval_loss"] = loss * np.exp(rng.normal(0, noise, len(table)))
    table["final_train_loss"] = table["loss"] - 0.01
    table["final_eval_loss_se"] = 0.01
    table["status"] = "complete"
    return table


def _planned(folder: Path, name: str, toml: str):
    """The study written to folder/name.toml, and its export table before any run (all pending)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(toml)
    study = load_study(path)
    return study, export_table(study)


def _diverge(table, rows) -> None:
    table.loc[rows, ["loss", "final_eval_loss", "final_train_loss", "final_eval_loss_se"]] = np.nan
    table.loc[rows, "status"] = "diverged"
    table.loc[rows, "diverged_step"] = 3


def _data(study, table, with_curves: bool) -> StudyData:
    return study_data(study, table, curves(table) if with_curves else None)


def crossing_study(folder: Path, noise: float = 0.003, seed: int = 0, with_curves: bool = False) -> StudyData:
    study, table = _planned(folder, "crossing", CROSSING_TOML)
    loss = np.array([law(arm, c) for arm, c in zip(table["arm"], table["compute"])])
    return _data(study, _complete(table, loss, np.random.default_rng(seed), noise), with_curves)


def optimal_lr(width):
    """The made-up optimum: 0.5/width (so 2^-7 at width 64)."""
    return 0.5 / np.asarray(width, dtype=float)


def lr_study(folder: Path, noise: float = 0.002, seed: int = 0, with_curves: bool = False) -> StudyData:
    study, table = _planned(folder, "lr", LR_TOML)
    u = np.log2(table["lr"] / optimal_lr(table["width"]))
    loss = law("scaled", table["compute"]) + 0.04 * u**2
    table = _complete(table, loss.to_numpy(), np.random.default_rng(seed), noise)
    _diverge(table, u > 3.0)  # above 8x the optimum
    return _data(study, table, with_curves)


def l2_study(folder: Path, noise: float = 0.001, seed: int = 0, with_curves: bool = False) -> StudyData:
    """L2 only hurts; λ = 1e-3 diverges at the largest width."""
    study, table = _planned(folder, "l2", L2_TOML)
    loss = law("scaled", table["compute"]) + L2_COST * table["l2"] - 0.02 * (table["arm"] == "coupled")
    table = _complete(table, loss.to_numpy(), np.random.default_rng(seed), noise)
    _diverge(table, (table["l2"] == 0.001) & (table["width"] == 256))
    return _data(study, table, with_curves)


def lr_for_batch(batch):
    """The made-up optimum LR grows with the batch: 2^-6 at batch 16, ×2 per ×4 in batch."""
    return 2.0**-6 * np.sqrt(np.asarray(batch, dtype=float) / 16)


def lr_batch_study(folder: Path, noise: float = 0.0005, seed: int = 0, with_curves: bool = False) -> StudyData:
    """Best batch 16 (once the LR is retuned for each batch size), each batch with its own best LR."""
    study, table = _planned(folder, "lr_batch", LR_BATCH_TOML)
    u = np.log2(table["lr"] / lr_for_batch(table["batch_size"]))
    loss = 3.0 + 0.04 * u**2 + 0.03 * np.log2(table["batch_size"] / 16) ** 2
    return _data(study, _complete(table, loss.to_numpy(), np.random.default_rng(seed), noise), with_curves)


def best_batch(width):
    """The made-up best batch: 8 at width 64, doubling with width."""
    return 8 * np.asarray(width, dtype=float) / 64


def batch_study(folder: Path, noise: float = 0.0005, seed: int = 0, with_curves: bool = False) -> StudyData:
    """Loss quadratic in log₂(batch / best_batch(width)): the best batch grows with width."""
    study, table = _planned(folder, "batch", BATCH_TOML)
    loss = law("scaled", table["compute"]) + 0.03 * np.log2(table["batch_size"] / best_batch(table["width"])) ** 2
    return _data(study, _complete(table, loss.to_numpy(), np.random.default_rng(seed), noise), with_curves)


def ladder_study(folder: Path, noise: float = 0.002, seed: int = 0, with_curves: bool = True) -> StudyData:
    """One arm over a width ladder, its losses on the 'scaled' law."""
    study, table = _planned(folder, "ladder", LADDER_TOML)
    loss = law("scaled", table["compute"])
    return _data(study, _complete(table, loss, np.random.default_rng(seed), noise), with_curves)


# --- two regimes: one epoch and many, from the data-constrained law ---------------------------------

CAP = 65_537  # 65,536 unique tokens in rows of 256 (bytes, the default seq_len)
TWO_REGIMES_TOML = f"""
[study]
description = "Synthetic: a baseline and an L2 arm, each for one epoch and over {CAP - 1} tokens."
[model]
depth = 2
head_dim = 16
[data]
tokenizer = "bytes"
[budget]
tokens = 1_000_000
[sweep]
width = [32, 48, 64]
[arms.base]
[arms.l2]
l2 = 1e-3
[arms.rep-base]
max_train_tokens = {CAP}
[arms.rep-l2]
max_train_tokens = {CAP}
l2 = 1e-3
"""
# Losses follow the data-constrained law: repeats are worth exp(-k/R_D*) of fresh data, and the L2
# recipe keeps more of their worth (R_D* 20 against 4). In one epoch the two recipes are the same law.
TRUTH = {"E": 1.8, "A": 100.0, "B": 100.0, "alpha": 0.35, "beta": 0.35, "R_N_star": 5.0}
R_D_STAR = {"base": 4.0, "l2": 20.0}
EVALS = np.linspace(0.1, 1.0, 10)


def _constrained(recipe: str, n, d, u):
    params = np.array([(TRUTH | {"R_D_star": R_D_STAR[recipe]})[k] for k in DATA_CONSTRAINED.param_names])
    return DATA_CONSTRAINED.loss(params, np.log(np.stack(np.broadcast_arrays(n, d, u), axis=-1)))


def two_regimes_study(folder: Path) -> StudyData:
    """Every run complete: final losses and eval checkpoints from the planted law; over many epochs
    a train loss far below the eval loss (memorised: the generalization gap)."""
    study, table = _planned(folder, "regimes", TWO_REGIMES_TOML)
    capped = table["max_train_tokens"].notna()
    table["unique_tokens"] = np.where(capped, CAP - 1, 10**9).astype(float)
    table["epochs"] = table["tokens"] / table["unique_tokens"]
    recipe = table["arm"].str.removeprefix("rep-")
    metrics = []
    for row, r in zip(table.itertuples(), recipe):
        tokens = row.tokens * EVALS
        loss = _constrained(r, row.params, tokens, row.unique_tokens)
        metrics.append(pd.DataFrame({"run_id": row.run_id, "arm": row.arm, "width": row.width,
                                     "step": np.arange(1, len(EVALS) + 1) * 10, "tokens": tokens,
                                     "train_loss": loss - 0.01, "eval_loss": loss}))
    metrics = pd.concat(metrics, ignore_index=True)
    final = metrics.groupby("run_id")["eval_loss"].last()
    table["loss"] = table["final_eval_loss"] = table["run_id"].map(final)
    table["final_train_loss"] = table["loss"] - np.where(capped, 1.0 + 0.02 * table["epochs"], 0.01)
    table["final_eval_loss_se"] = 0.005
    table["status"] = "complete"
    return study_data(study, table, metrics)
