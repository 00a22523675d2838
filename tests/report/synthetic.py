"""Studies with made-up results: a table in the store's export columns, losses from known laws.

No training: the study file is real (so runs, budgets and labels are the planner's), the losses
are drawn from power laws whose crossing and optima are known, with small multiplicative noise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

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
L2_COST = 100.0
"""Made-up nats of loss per unit of L2 λ (0.1 at λ = 1e-3); weight decay gains a flat 0.02."""


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
    path = folder / f"{name}.toml"
    path.write_text(toml)
    study = load_study(path)
    return study, export_table(study)


def _diverge(table, rows) -> None:
    table.loc[rows, ["loss", "final_eval_loss", "final_train_loss", "final_eval_loss_se"]] = np.nan
    table.loc[rows, "status"] = "diverged"
    table.loc[rows, "diverged_step"] = 3


def crossing_study(folder: Path, noise: float = 0.003, seed: int = 0) -> StudyData:
    study, table = _planned(folder, "crossing", CROSSING_TOML)
    loss = np.array([law(arm, c) for arm, c in zip(table["arm"], table["compute"])])
    return study_data(study, _complete(table, loss, np.random.default_rng(seed), noise))


def optimal_lr(width):
    """The made-up optimum: 0.5/width (so 2^-7 at width 64)."""
    return 0.5 / np.asarray(width, dtype=float)


def lr_study(folder: Path, noise: float = 0.002, seed: int = 0) -> StudyData:
    study, table = _planned(folder, "lr", LR_TOML)
    u = np.log2(table["lr"] / optimal_lr(table["width"]))
    loss = law("scaled", table["compute"]) + 0.04 * u**2
    table = _complete(table, loss.to_numpy(), np.random.default_rng(seed), noise)
    _diverge(table, u > 3.0)  # above 8x the optimum
    return study_data(study, table)


def l2_study(folder: Path, noise: float = 0.001, seed: int = 0) -> StudyData:
    """L2 only hurts; λ = 1e-3 diverges at the largest width."""
    study, table = _planned(folder, "l2", L2_TOML)
    loss = law("scaled", table["compute"]) + L2_COST * table["l2"] - 0.02 * (table["arm"] == "coupled")
    table = _complete(table, loss.to_numpy(), np.random.default_rng(seed), noise)
    _diverge(table, (table["l2"] == 0.001) & (table["width"] == 256))
    return study_data(study, table)


def lr_for_batch(batch):
    """The made-up optimum LR grows with the batch: 2^-6 at batch 16, ×2 per ×4 in batch."""
    return 2.0**-6 * np.sqrt(np.asarray(batch, dtype=float) / 16)


def lr_batch_study(folder: Path, noise: float = 0.0005, seed: int = 0) -> StudyData:
    """Best batch 16 (once the LR is retuned for each batch size), each batch with its own best LR."""
    study, table = _planned(folder, "lr_batch", LR_BATCH_TOML)
    u = np.log2(table["lr"] / lr_for_batch(table["batch_size"]))
    loss = 3.0 + 0.04 * u**2 + 0.03 * np.log2(table["batch_size"] / 16) ** 2
    return study_data(study, _complete(table, loss.to_numpy(), np.random.default_rng(seed), noise))
