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


PLANTED = ("identical", "inside", "beyond", "never")
"""The scenarios of the coverage benchmark: identical arms; a crossing inside the ladder; a crossing
beyond it (the data show one arm ahead, the target the other); never crossing (one arm's reducible
loss a constant factor above the other's)."""
TARGET_FACTOR = 10.0
"""The forecast is checked at 10× the ladder's largest compute, the comparison's default target."""


@dataclass(frozen=True)
class Planted:
    """A table's planted truth: both arms' L(C) = E + A·C^−α, the noise, and what follows at the target."""

    scenario: str
    truth: Truth
    noise: float
    """Relative run-to-run noise (the σ of log loss)."""
    compute: np.ndarray
    """The ladder's computes."""
    crossing: float | None
    """Where the arms' expected losses cross (None: they never do)."""

    @property
    def target(self) -> float:
        return TARGET_FACTOR * float(self.compute.max())

    @property
    def delta(self) -> float:
        """E[L_b] − E[L_a] at the target."""
        return float(self.truth.loss("b", self.target) - self.truth.loss("a", self.target))


def planted(scenario: str, seed: int, *, sizes: int | None = None, noise: float | None = None,
            replicates: bool = False, seeds: int = 1) -> tuple[pd.DataFrame, Planted]:
    """One planted table of a scenario (PLANTED), its truth drawn at random from plausible laws.

    Each draw varies what a method must not be tuned to: 4–8 sizes per arm (`sizes`), noise 0.3–1%
    per run (`noise`), E in 1.6–2.4, α in 0.08–0.2, the reducible share of the smallest run's loss
    in 0.35–0.65, the ladder's first size, where a crossing lies, and which arm is which.
    replicates: a second seed at each arm's two smallest sizes (the noise measured with 4 dof);
    seeds: runs of every point (3: a well-measured ladder, "runs enough" to call equal arms equivalent).
    """
    if scenario not in PLANTED:
        raise ValueError(f"unknown scenario '{scenario}' (choose from {', '.join(PLANTED)})")
    rng = np.random.default_rng([seed, PLANTED.index(scenario)])
    sizes = int(rng.integers(4, 9)) if sizes is None else sizes
    noise = float(rng.uniform(0.003, 0.01)) if noise is None else noise
    n, d, c = ladder(sizes, smallest=10 ** rng.uniform(6, 7))
    e, alpha, share = rng.uniform(1.6, 2.4), rng.uniform(0.08, 0.2), rng.uniform(0.35, 0.65)
    a = e * share / (1 - share) * c[0] ** alpha
    base, other, crossing = (e, a, alpha), (e, a, alpha), None
    if scenario == "never":
        other = (e, a * (1 + rng.choice([-1, 1]) * rng.uniform(0.04, 0.12)), alpha)
    elif scenario in ("inside", "beyond"):
        log_lo, log_hi = np.log(c[0]), np.log(c[-1])
        crossing = float(np.exp(log_lo + rng.uniform(0.3, 0.7) * (log_hi - log_lo)) if scenario == "inside"
                         else c[-1] * 10 ** rng.uniform(0.1, 0.6))
        alpha_b = alpha * (1 + rng.uniform(0.1, 0.3))
        other = (e, a * crossing ** -alpha / crossing ** -alpha_b, alpha_b)
    truth = Truth(base, other) if rng.random() < 0.5 else Truth(other, base)
    frames = []
    for arm in ("a", "b"):
        extra = 2 if replicates else 0
        seed_of = np.r_[np.repeat(np.arange(seeds), sizes), np.full(extra, seeds)]
        at = np.r_[np.tile(np.arange(sizes), seeds), np.arange(extra)]
        loss = truth.loss(arm, c[at]) * np.exp(rng.normal(0.0, noise, len(at)))
        frames.append(pd.DataFrame({"arm": arm, "run_id": [f"{arm}-{i}-s{s}" for i, s in zip(at, seed_of)],
                                    "params": n[at], "tokens": d[at], "compute": c[at], "seed": seed_of,
                                    "loss": loss}))
    df = pd.concat(frames, ignore_index=True)
    df.attrs["source"] = f"planted-{scenario}-{seed}"
    return df, Planted(scenario, truth, noise, c, crossing)
