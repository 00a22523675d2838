"""Tables with a planted truth, to measure the analysis where the right answer is known.

Two arms on a ladder of model sizes at 20 tokens per parameter, each following its own
L(C) = E + A·C^−α exactly, then multiplied by log-normal noise per run (the seed-to-seed spread
of real runs). The scenarios are the ones a comparison must get right:
- inside: B crosses A inside the ladder (B behind below, ahead above);
- beyond: B crosses A at 3× the largest run's compute (the data show A ahead, shrinking; at the
  usual target, 10× the largest run, B is ahead);
- never: B is behind everywhere, by a constant factor on the reducible loss;
- equal: the same law for both arms (the winner at any size is noise).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scalinglab.model.accounting import chinchilla_flops

SCENARIOS = ("inside", "beyond", "never", "equal")
NOISE = 0.004
"""Relative seed-to-seed noise of a final loss: ~0.015 nats at loss 3.5, the scale measured
between seeds of small CPU runs."""


@dataclass(frozen=True)
class Truth:
    """Both arms' (E, A, α)."""

    a: tuple[float, float, float]
    b: tuple[float, float, float]

    def loss(self, arm: str, compute) -> np.ndarray:
        e, a, alpha = self.a if arm == "a" else self.b
        return e + a * np.asarray(compute, dtype=float) ** -alpha


def ladder(sizes: int = 8, smallest: float = 1e6, step: float = 2.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, D, C): sizes growing by `step`, D = 20·N, C = 6·N·D."""
    n = smallest * step ** np.arange(sizes)
    d = 20 * n
    return n, d, chinchilla_flops(n, d)


def truth(scenario: str, compute: np.ndarray, e: float = 2.0, a: float = 120.0, alpha: float = 0.12) -> Truth:
    """Arm a: E + A·C^−α; arm b placed so that the scenario holds over `compute`."""
    base = (e, a, alpha)
    if scenario == "equal":
        return Truth(base, base)
    if scenario == "never":
        return Truth(base, (e, a * 1.06, alpha))
    log_c = np.log(compute)
    at = np.exp(log_c.mean()) if scenario == "inside" else 3.0 * np.exp(log_c.max())
    alpha_b = alpha * 1.15
    a_b = a * at ** -alpha / at ** -alpha_b  # B's reducible loss equals A's at the crossing
    return Truth(base, (e, a_b, alpha_b))


def table(scenario: str, seed: int = 0, sizes: int = 8, noise: float = NOISE) -> tuple[pd.DataFrame, Truth]:
    """A study-export-like table (arm, run_id, params, tokens, compute, loss) and its truth."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario '{scenario}' (choose from {', '.join(SCENARIOS)})")
    n, d, c = ladder(sizes)
    t = truth(scenario, c)
    rng = np.random.default_rng(seed)
    frames = []
    for arm in ("a", "b"):
        loss = t.loss(arm, c) * np.exp(rng.normal(0.0, noise, len(c)))
        frames.append(pd.DataFrame({"arm": arm, "run_id": [f"{arm}-{i}" for i in range(len(c))], "params": n,
                                    "tokens": d, "compute": c, "loss": loss}))
    df = pd.concat(frames, ignore_index=True)
    df.attrs["source"] = f"synthetic-{scenario}-{seed}"
    return df, t
