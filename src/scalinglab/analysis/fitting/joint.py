"""Two arms fitted together, with the parameters they may share, and the choice among those models.

With five runs per arm and three parameters each, an arm's E is barely identified, and the
forecast swings with it. Two recipes trained on the same data and scored on the same eval set
plausibly share the irreducible loss (it belongs to the data, not the recipe), and recipes that
differ by a constant factor share the exponents too. So one law is fitted in three joint models:
- "none": each arm its own parameters (the arms' separate fits);
- "E": one E for both arms, the rest per arm;
- "E+exponents": one E and one exponent per term; the arms differ only by their coefficients
  (in L(C) the curves are then parallel in log(L − E) and cannot cross).
The objective is the sum of both arms' objectives (optimize.py), minimised over the joint vector θ
by L-BFGS from starts built out of each arm's own fit; the comparison fits by least squares on log
loss (LEAST_SQUARES), the likelihood of its posteriors (analysis.posterior).

Weighing the models (`deviance`, then models.criteria): a least-squares fit with its noise scale
fitted has −2·log L = n·log(RSS/n). Rows of one run (checkpoints) are not independent evidence: each
row counts 1/m of its run's m rows, so the deviance counts runs (a design effect: m perfectly
correlated rows carry one row's information). An information criterion rather than a held-out
backtest, because it is defined for a ladder of five runs per arm, where holding out the largest
leaves too little to refit; models.criteria reads each model's gain in deviance at its exact
small-sample distribution.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from scalinglab.analysis.fitting.laws import EXPONENT_BOUNDS, Law
from scalinglab.analysis.fitting.optimize import LBFGS_OPTIONS, fit_varpro
from scalinglab.analysis.threads import single_threaded_blas

SHARINGS = ("none", "E", "E+exponents")
LEAST_SQUARES = 1e3
"""A Huber δ no log residual reaches: the objective is then ½Σr², least squares (the likelihood the
comparison's posteriors use)."""


@dataclass(frozen=True, eq=False)
class ArmData:
    """One arm's points in the optimizer's terms."""

    log_x: np.ndarray
    """(n, k) log inputs, columns as law.inputs."""
    y: np.ndarray
    """(n,) log loss."""
    clusters: np.ndarray
    """(n,) the run of each row as 0..G_arm−1: the unit of resampling and of the criterion's count."""

    @property
    def n_clusters(self) -> int:
        return int(self.clusters.max()) + 1 if len(self.clusters) else 0


@dataclass(frozen=True, eq=False)
class Layout:
    """Where each arm's natural parameters (E, A_k…, α_k…) sit in the joint vector θ."""

    law: Law
    sharing: str
    index: np.ndarray
    """(2, p): θ[index[arm]] is that arm's θ (log E, log A_k…, α_k…)."""

    @property
    def n_free(self) -> int:
        return int(self.index.max()) + 1

    @property
    def shared(self) -> tuple[str, ...]:
        return tuple(n for j, n in enumerate(self.law.param_names) if self.index[0, j] == self.index[1, j])

    def split(self, theta: np.ndarray) -> np.ndarray:
        """Joint θ (…, n_free) → per-arm natural parameters (…, 2, p)."""
        return self.law.from_theta(np.asarray(theta)[..., self.index])

    def join(self, theta_a: np.ndarray, theta_b: np.ndarray) -> np.ndarray:
        """Per-arm θ → joint θ; a shared entry takes arm a's value."""
        theta = np.empty(self.n_free)
        theta[self.index[1]] = theta_b
        theta[self.index[0]] = theta_a
        return theta


def layout(law: Law, sharing: str) -> Layout:
    if sharing not in SHARINGS:
        raise ValueError(f"unknown sharing '{sharing}' (choose from {', '.join(SHARINGS)})")
    k = law.n_terms
    shared = {0} if sharing != "none" else set()
    if sharing == "E+exponents":
        shared |= set(range(k + 1, 1 + 2 * k))
    index = np.empty((2, law.n_params), dtype=int)
    slot = 0
    for j in sorted(shared):
        index[:, j] = slot
        slot += 1
    for arm in (0, 1):
        for j in range(law.n_params):
            if j not in shared:
                index[arm, j] = slot
                slot += 1
    return Layout(law, sharing, index)


@dataclass(frozen=True, eq=False)
class JointSolution:
    theta: np.ndarray
    objective: float
    converged: bool
    at_bound: bool


def joint_objective(theta, rows: np.ndarray, log_x: np.ndarray, y: np.ndarray, w: np.ndarray, delta: float):
    """Σ_arm J_arm(θ[index[arm]]) and its gradient, both arms' rows at once.

    rows: (n, p) the θ slot of each parameter for each row's arm; shared slots collect the
    gradient of both arms. The algebra is optimize.objective's, with a parameter row per data row.
    """
    t = theta[rows]
    k = log_x.shape[1]
    t_nK = np.empty((len(y), k + 1))
    t_nK[:, 0] = t[:, 0]
    t_nK[:, 1:] = t[:, 1 : k + 1] - t[:, k + 1 :] * log_x
    m = t_nK.max(axis=1, keepdims=True)
    p_nK = np.exp(t_nK - m)
    s = p_nK.sum(axis=1, keepdims=True)
    p_nK /= s
    r = (m + np.log(s))[:, 0] - y
    a = np.abs(r)
    inside = a <= delta
    f = w @ np.where(inside, 0.5 * r * r, delta * (a - 0.5 * delta))
    g = w * np.where(inside, r, delta * np.sign(r))
    d_rows = np.empty_like(t)
    d_rows[:, : k + 1] = g[:, None] * p_nK
    d_rows[:, k + 1 :] = -g[:, None] * p_nK[:, 1:] * log_x
    return float(f), np.bincount(rows.ravel(), weights=d_rows.ravel(), minlength=len(theta))


def joint_clusters(data: tuple[ArmData, ArmData]) -> np.ndarray:
    """The run of each row of both arms (arm a's rows first), numbered 0..G_a + G_b − 1."""
    return np.concatenate([data[0].clusters, data[1].clusters + data[0].n_clusters])


def joint_jacobian(lay: Layout, theta: np.ndarray, arm: int, log_x: np.ndarray) -> np.ndarray:
    """∂ log L̂ / ∂θ of one arm at the inputs log_x, in the joint vector: (n, n_free), a shared slot
    holding its one column (Law.log_loss_jacobian in the arm's own parameters)."""
    per_param = lay.law.log_loss_jacobian(np.asarray(theta, dtype=float)[lay.index[arm]], log_x)
    jac = np.zeros((len(per_param), lay.n_free))
    for j, slot in enumerate(lay.index[arm]):
        jac[:, slot] += per_param[:, j]
    return jac


RCOND = 1e-10
"""Singular values of J below this share of the largest count as zero: directions the rows do not
see (an E at zero, whose column vanishes)."""


def unit_covariance(jac: np.ndarray) -> np.ndarray | None:
    """(JᵀJ)⁺: the covariance of θ per unit variance of a row's log loss, linearised at the optimum
    (least squares; the Huber loss is quadratic near it). From J⁺J⁺ᵀ, not by inverting JᵀJ, which
    would square J's condition number. None where J is not finite."""
    if not np.all(np.isfinite(jac)):
        return None
    j_plus = np.linalg.pinv(jac, rcond=RCOND)
    return j_plus @ j_plus.T


def seen_directions(jac: np.ndarray) -> np.ndarray:
    """(n_free, k): an orthonormal basis of the directions of θ that the rows of J pin down."""
    _, s, vt = np.linalg.svd(jac, full_matrices=False)
    return vt[s > RCOND * s[0]].T if len(s) and s[0] > 0 else np.zeros((jac.shape[1], 0))


def _shift(lay: Layout, theta: np.ndarray, center: np.ndarray, sign: float) -> np.ndarray:
    """Move log A_k to its value at the centre of log x (sign −1) or back (+1), per arm."""
    k = lay.law.n_terms
    out = theta.copy()
    for arm in (0, 1):
        for j in range(k):
            out[lay.index[arm, 1 + j]] += sign * theta[lay.index[arm, 1 + k + j]] * center[j]
    return out


def _exponent_slots(lay: Layout) -> np.ndarray:
    return np.unique(lay.index[:, lay.law.n_terms + 1 :])


def minimize_joint(lay: Layout, theta0: np.ndarray, data: tuple[ArmData, ArmData], y=None, w=None,
                   delta: float = 1e-3, options: dict | None = None) -> JointSolution:
    """One L-BFGS-B run from θ0 (as optimize.minimize_from, for the joint vector: log x centred).

    y, w: both arms' log losses and row weights, arm a's rows first (default: the data, weight 1).
    """
    log_x = np.concatenate([d.log_x for d in data])
    center = log_x.mean(axis=0)
    rows = np.concatenate([np.repeat(lay.index[[i]], len(d.y), axis=0) for i, d in enumerate(data)])
    y = np.concatenate([d.y for d in data]) if y is None else y
    w = np.ones_like(y) if w is None else w
    bounds = [(None, None)] * lay.n_free
    for s in _exponent_slots(lay):
        bounds[s] = EXPONENT_BOUNDS
    start = _shift(lay, np.asarray(theta0, dtype=float), center, -1.0)
    res = minimize(joint_objective, start, args=(rows, log_x - center, y, w, delta), jac=True, method="L-BFGS-B",
                   bounds=bounds, options=options or LBFGS_OPTIONS)
    theta = _shift(lay, res.x, center, +1.0)
    expo = theta[_exponent_slots(lay)]
    at_bound = bool(np.any(expo <= EXPONENT_BOUNDS[0] + 1e-6) or np.any(expo >= EXPONENT_BOUNDS[1] - 1e-6))
    ok = bool(res.success) or float(np.max(np.abs(res.jac))) < 1e-6
    return JointSolution(theta, float(res.fun), ok, at_bound)


def separate_starts(law: Law, data: tuple[ArmData, ArmData], delta: float) -> tuple[np.ndarray, np.ndarray]:
    """Each arm's own fit, in θ: where every joint model starts from. Variable projection, whose
    exhaustive grid over the exponents does not depend on a start (and is 10–50× faster than the
    multi-start grid on L(N, D) with checkpoints)."""
    return tuple(fit_varpro(law, d.log_x, d.y, delta=delta).theta for d in data)


def fit_joint(lay: Layout, data: tuple[ArmData, ArmData], starts: tuple[np.ndarray, np.ndarray],
              delta: float = 1e-3) -> JointSolution:
    """The best optimum over starts that take each shared value from arm a, arm b, or between.

    E also starts from fractions of the lowest loss: with few points per arm the separate fits'
    E are often at 0 or at the smallest loss, and the shared optimum lies elsewhere.
    """
    theta_a, theta_b = starts
    k = lay.law.n_terms
    e_options = {theta_a[0], theta_b[0], 0.5 * (theta_a[0] + theta_b[0])}
    if lay.sharing != "none":
        lowest = min(float(d.y.min()) for d in data)
        e_options |= {lowest + np.log(q) for q in (0.5, 0.8, 0.95)}
    expo_options = [theta_a[k + 1 :], theta_b[k + 1 :], 0.5 * (theta_a[k + 1 :] + theta_b[k + 1 :])]
    if lay.sharing != "E+exponents":
        expo_options = expo_options[:1]
    if lay.sharing == "none":
        e_options = {theta_a[0]}
    best = None
    with single_threaded_blas():
        for e, expo in itertools.product(sorted(e_options), expo_options):
            a, b = theta_a.copy(), theta_b.copy()
            a[0] = b[0] = e
            if lay.sharing == "E+exponents":
                a[k + 1 :] = b[k + 1 :] = expo
            if lay.sharing == "none":
                a, b = theta_a, theta_b
            sol = minimize_joint(lay, lay.join(a, b), data, delta=delta)
            if best is None or sol.objective < best.objective:
                best = sol
    return best


MIN_RESIDUAL_DOF = 3
"""A model is weighed only with three or more runs beyond its free parameters. Its residuals
measure the noise with ν = runs − parameters degrees of freedom; with ν ≤ 2 a new point's
predictive (Student t) spread has infinite variance, and the fitted scale can be arbitrarily small,
which hands such a model the whole weight for passing close to its few points."""


def deviance(rss: float, n_runs: int, n_free: int) -> float:
    """−2·log L of a least-squares fit over n runs, its noise scale fitted: n·log(RSS/n) (constants
    dropped); +inf for a model with fewer than MIN_RESIDUAL_DOF runs beyond its parameters, which
    cannot be weighed. rss: each run's rows weighted 1/m, so a run with m checkpoints counts once."""
    if n_runs - n_free < MIN_RESIDUAL_DOF:
        return float("inf")
    return n_runs * float(np.log(max(rss, 1e-300) / n_runs))
