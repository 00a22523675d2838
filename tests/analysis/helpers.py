"""Synthetic tables with known laws, shaped like a study export (arm, width, params, tokens, compute, loss)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[2] / "data"
"""The published tables the project keeps (data/PROVENANCE.md)."""
CHINCHILLA = DATA / "chinchilla-approach3-epoch.csv"
WIDTHS = np.array([64, 96, 128, 192, 256, 384, 512, 768])


def ladder(widths=WIDTHS):
    """Chinchilla-budget ladder: N = 12·L·D² with depth D/64, tokens 20·N, compute 6·N·D."""
    widths = np.asarray(widths, dtype=float)
    params = 12 * (widths / 64) * widths**2
    tokens = 20 * params
    return widths, params, tokens, 6 * params * tokens


def arm(name: str, e: float, a: float, alpha: float, noise: float = 0.0, seed: int = 0, widths=WIDTHS) -> pd.DataFrame:
    """Runs of one arm whose loss follows L(C) = e + a·C^-alpha, times log-normal noise."""
    w, n, d, c = ladder(widths)
    rng = np.random.default_rng(seed)
    loss = (e + a * c**-alpha) * np.exp(rng.normal(0.0, noise, len(c)))
    return pd.DataFrame({"run_id": [f"{name}-{int(x)}" for x in w], "arm": name, "width": w, "params": n,
                         "tokens": d, "compute": c, "loss": loss, "status": "complete"})


def crossing_a(c_cross: float, e=2.0, a=60.0, alpha=0.1, alpha_b=0.13, e_b=None) -> tuple[float, float, float]:
    """(E, A, α) of an arm that crosses L_a = e + a·C^-alpha exactly at c_cross with exponent alpha_b."""
    e_b = e if e_b is None else e_b
    return e_b, (e + a * c_cross**-alpha - e_b) * c_cross**alpha_b, alpha_b


def params_tokens_table(e=1.7, a=400.0, b=1500.0, alpha=0.34, beta=0.28, noise=0.01, seed=0) -> pd.DataFrame:
    """An IsoFLOP-like grid of (N, D) points following L(N, D) with log-normal noise."""
    rng = np.random.default_rng(seed)
    n = np.repeat(np.logspace(7, 10, 10), 6)
    d = n * np.tile(np.logspace(0.3, 2.3, 6), 10)
    loss = (e + a / n**alpha + b / d**beta) * np.exp(rng.normal(0.0, noise, len(n)))
    return pd.DataFrame({"params": n, "tokens": d, "loss": loss})


def lr_sweep(widths=(64, 128, 256, 512), c_opt=0.5, k_opt=-1.0, stable_factor=4.0, noise=0.002, seed=0,
             lrs=2.0 ** np.arange(-14, -3)) -> pd.DataFrame:
    """U-shaped loss in log LR around lr* = c_opt·width^k_opt; runs above stable_factor·lr* diverge."""
    rng = np.random.default_rng(seed)
    rows = []
    for width in widths:
        opt = c_opt * width**k_opt
        for lr in lrs:
            diverged = lr > stable_factor * opt
            loss = 3.0 + 0.08 * np.log(lr / opt) ** 2 + rng.normal(0.0, noise)
            rows.append({"run_id": f"w{width}-lr{lr:.3g}", "arm": "x", "width": width, "lr": lr,
                         "loss": np.nan if diverged else loss, "status": "diverged" if diverged else "complete",
                         "vocab_size": 32101})
    return pd.DataFrame(rows)


def nd_law(e, a, b, alpha, beta):
    """L(N, D) = e + a/N^alpha + b/D^beta as a function of arrays."""
    return lambda n, d: e + a / np.asarray(n) ** alpha + b / np.asarray(d) ** beta


def grid_arm(name: str, law, sizes=np.logspace(7, 9, 5), multipliers=(5, 10, 20, 40, 80), noise=0.0, seed=0):
    """Several token budgets per size (an over-training grid): one run per (N, D)."""
    rng = np.random.default_rng(seed)
    n = np.repeat(np.asarray(sizes, dtype=float), len(multipliers))
    d = n * np.tile(np.asarray(multipliers, dtype=float), len(sizes))
    loss = law(n, d) * np.exp(rng.normal(0.0, noise, len(n)))
    return pd.DataFrame({"run_id": [f"{name}-{i}" for i in range(len(n))], "arm": name, "params": n, "tokens": d,
                         "loss": loss})


def isoflop_arm(name: str, law, budgets=(1e17, 1e18, 1e19), sizes_per_budget=7, noise=0.0, seed=0,
                center=lambda c: np.sqrt(c / 120)):
    """Per compute budget, sizes spread around `center(C)` (Hoffmann et al.'s Approach 2 grid)."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in budgets:
        # N from 1/6 to 6 times the budget's centre size, log-spaced.
        n = center(c) * np.geomspace(1 / 6, 6, sizes_per_budget)
        d = c / (6 * n)
        loss = law(n, d) * np.exp(rng.normal(0.0, noise, len(n)))
        rows += [{"run_id": f"{name}-{c:.0e}-{i}", "arm": name, "params": n[i], "tokens": d[i], "loss": loss[i]}
                 for i in range(len(n))]
    return pd.DataFrame(rows)
