"""The parameters' uncertainty: the posterior of one joint model, sampled by emcee.

Why a posterior rather than a bootstrap: with 3–8 runs per arm a law's E is barely identified, and
a resampling method has nothing to go on but the few residuals, whose spread collapses exactly
when there are fewest of them (its coverage beside this one's: benchmarks/RESULTS.md). A posterior states what
is assumed beyond the data, as priors, and carries it into every interval:
- E, the loss no scale reaches, lies between 0 and the arm's smallest measured loss: uniform there;
- an exponent lies in EXPONENT_PRIOR: log-uniform (language-model laws report 0.05–0.5, and no
  scale is preferred within that);
- a coefficient, as its term's size at the centre of the data: log-uniform over ±COEFFICIENT_SPAN
  e-folds of the median loss (the data decide it);
- the scatter of a point around the law, s (relative: the σ of log loss), log-uniform over
  SCALE_PRIOR (Jeffreys' prior for a scale, which makes intervals t-like on few points).
Where the table measures the run-to-run noise independently of the law (seeds; its own standard
errors), s splits into the noise σ and the law's misfit τ, s² = σ² + τ², and the measurement enters
as data, ν·s_σ²/σ² ~ χ²_ν: where the law is right τ falls towards its floor, where it is not τ
carries the misfit and σ stays the noise the seeds measured. A noise read from local smoothness
(analysis.noise) is not independent of the law's residuals (both are contrasts of the same points
that a smooth curve leaves), so it does not enter here: counting it twice would narrow every interval.
Rows of one run (checkpoints) share its noise, so each row counts 1/m of a run in the likelihood
(m the run's rows), as in the joint models' weighing.

Sampled with emcee's affine-invariant ensemble (Foreman-Mackey et al. 2013), every walker's
log-density at once, started in a small ball around the point fit; the log A are centred on the
data (log A − α·mean log x) so the ensemble's affine moves see a near-Gaussian target. The chain
lengths were checked on planted tables: 4× and 10× longer chains give the same interval widths.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from scalinglab.analysis.fitting.joint import ArmData, Layout

EXPONENT_PRIOR = (0.005, 2.0)
"""Log-uniform prior of every exponent (α, β)."""
SCALE_PRIOR = (1e-4, 0.3)
"""Log-uniform prior of the scatter s, the noise σ and the misfit τ, as relative errors of one loss."""
COEFFICIENT_SPAN = 20.0
"""A term's size at the centre of the data lies within ±this many e-folds of the median loss."""
WALKERS = 32
BURN = 600
STEPS = 900
THIN = 9
"""32 walkers × 900 steps kept, every 9th: 3,200 draws, about one per autocorrelation time."""
PROGRESS_STEPS = 100
MIN_ACCEPTANCE = 0.05
"""Below this the ensemble has not moved: its draws would be the start repeated, not a posterior."""


class PosteriorFailed(RuntimeError):
    """A joint model's posterior could not be sampled (its draws are left out of the average)."""


@dataclass(frozen=True)
class NoiseData:
    """The run-to-run noise as measured apart from the law: ν·s²/σ² ~ χ²_ν."""

    variance: float
    """s², of log loss."""
    dof: float


@dataclass(frozen=True, eq=False)
class Posterior:
    """Draws of a joint model's parameters and of the scatter around it."""

    samples: np.ndarray
    """(n, 2, p): each arm's natural parameters (E, A_k…, α_k…), row i of both from one draw."""
    scatter: np.ndarray
    """(n,): s, the relative scatter of a point around the law (noise and misfit together)."""
    noise: np.ndarray | None
    """(n,): σ, the run-to-run noise, where the table measured it apart from the law (else None)."""
    acceptance: float
    """Mean acceptance fraction of the ensemble (0.2–0.5 is healthy)."""

    @property
    def misfit(self) -> np.ndarray | None:
        """(n,): τ = √(s² − σ²), the law's own error at a fitted point, where σ is known apart."""
        return None if self.noise is None else np.sqrt(np.maximum(self.scatter**2 - self.noise**2, 0.0))

    def take(self, rows: np.ndarray) -> Posterior:
        return Posterior(self.samples[rows], self.scatter[rows], None if self.noise is None else self.noise[rows],
                         self.acceptance)


class LogDensity:
    """log p(z | data) of one joint model over both arms' rows, vectorised over walkers z (W, ndim).

    z holds the joint θ with each log A_k centred (log A_k − α_k·c_k, c the mean log x), then
    log s (no independent noise), or log σ and log τ (noise measured apart: s² = σ² + τ²).
    """

    def __init__(self, lay: Layout, data: tuple[ArmData, ArmData], noise: NoiseData | None):
        self.lay, self.noise = lay, noise
        self.k = lay.law.n_terms
        self.log_x = np.concatenate([d.log_x for d in data])
        self.center = self.log_x.mean(axis=0)
        self.dx = self.log_x - self.center
        self.y = np.concatenate([d.y for d in data])
        self.rows = np.concatenate([np.repeat(lay.index[[i]], len(d.y), axis=0) for i, d in enumerate(data)])
        self.w = np.concatenate([1.0 / np.bincount(d.clusters)[d.clusters] for d in data])
        self.n_runs = float(self.w.sum())
        # The highest log E an arm may have: its smallest log loss (a shared E: the smaller of both).
        top = np.full(lay.n_free, np.inf)
        for i, d in enumerate(data):
            top[lay.index[i, 0]] = min(top[lay.index[i, 0]], float(d.y.min()))
        self.e_slots = np.unique(lay.index[:, 0])
        self.e_top = top[self.e_slots]
        self.a_slots = np.unique(lay.index[:, 1 : self.k + 1])
        self.x_slots = np.unique(lay.index[:, self.k + 1 :])
        self.mid = float(np.median(self.y))
        self.n_scales = 1 if noise is None else 2
        self.ndim = lay.n_free + self.n_scales

    def to_sampler(self, theta: np.ndarray) -> np.ndarray:
        """Joint θ (…, n_free) → its part of z (log A_k centred)."""
        return self._shift(theta, -1.0)

    def to_theta(self, z: np.ndarray) -> np.ndarray:
        """z (…, ndim) → joint θ (…, n_free)."""
        return self._shift(z[..., : self.lay.n_free], +1.0)

    def _shift(self, v: np.ndarray, sign: float) -> np.ndarray:
        out = np.array(v, dtype=float)
        k, idx = self.k, self.lay.index
        for slot_a, slot_x, c in {(idx[arm, 1 + j], idx[arm, 1 + k + j], self.center[j])
                                  for arm in (0, 1) for j in range(k)}:
            out[..., slot_a] = v[..., slot_a] + sign * v[..., slot_x] * c
        return out

    def predict(self, z: np.ndarray) -> np.ndarray:
        """log L̂ of every row under each walker: (W, n)."""
        t = z[:, self.rows]  # (W, n, p): each row's parameters, log A centred
        t_nK = np.empty(t.shape[:2] + (self.k + 1,))
        t_nK[..., 0] = t[..., 0]
        t_nK[..., 1:] = t[..., 1 : self.k + 1] - t[..., self.k + 1 :] * self.dx
        m = t_nK.max(axis=2, keepdims=True)
        return (m + np.log(np.exp(t_nK - m).sum(axis=2, keepdims=True)))[..., 0]

    def in_support(self, z: np.ndarray) -> np.ndarray:
        n_free = self.lay.n_free
        log_e, log_a, expo = z[:, self.e_slots], z[:, self.a_slots], z[:, self.x_slots]
        scales = z[:, n_free:]
        return (np.all(log_e < self.e_top, axis=1) & np.all(log_e > self.mid + np.log(1e-6), axis=1)
                & np.all((expo > EXPONENT_PRIOR[0]) & (expo < EXPONENT_PRIOR[1]), axis=1)
                & np.all(np.abs(log_a - self.mid) < COEFFICIENT_SPAN, axis=1)
                & np.all((scales > np.log(SCALE_PRIOR[0])) & (scales < np.log(SCALE_PRIOR[1])), axis=1))

    def __call__(self, z: np.ndarray) -> np.ndarray:
        z = np.atleast_2d(z)
        out = np.full(len(z), -np.inf)
        ok = self.in_support(z)
        if not ok.any():
            return out
        zk = z[ok]
        n_free = self.lay.n_free
        if self.noise is None:
            var = np.exp(2 * zk[:, n_free])
            extra = 0.0
        else:
            sigma2 = np.exp(2 * zk[:, n_free])
            var = sigma2 + np.exp(2 * zk[:, n_free + 1])
            # The noise's own measurement: ν s²/σ² ~ χ²_ν.
            extra = -0.5 * self.noise.dof * (self.noise.variance / sigma2 + np.log(sigma2))
        resid = self.y - self.predict(zk)
        loglik = -0.5 * ((resid**2 * self.w).sum(axis=1) / var + self.n_runs * np.log(var)) + extra
        # Uniform in E while the sampler moves log E (the Jacobian E); log-uniform in the exponents,
        # the coefficients and the scales: flat in the sampler's coordinates for the log-uniform
        # ones, and the exponents are moved as themselves (the Jacobian 1/α).
        out[ok] = loglik + zk[:, self.e_slots].sum(axis=1) - np.log(zk[:, self.x_slots]).sum(axis=1)
        return out


def sample(lay: Layout, theta_hat: np.ndarray, data: tuple[ArmData, ArmData], noise: NoiseData | None,
           seed: int | tuple[int, ...] = 0, steps: int = STEPS, burn: int = BURN,
           progress: Callable[[float], None] | None = None) -> Posterior:
    """Draws from one joint model's posterior, started next to its point fit θ̂; progress(share done)
    is called every PROGRESS_STEPS steps."""
    import emcee

    density = LogDensity(lay, data, noise)
    rng = np.random.default_rng(seed)
    theta = np.asarray(theta_hat, dtype=float).copy()
    # A point fit at or past the prior's edge (E at 0 or at the smallest loss, an exponent at a bound)
    # starts inside it: an E of 0 at 5% of the smallest loss, whence the walkers find the small E.
    theta[density.e_slots] = np.clip(theta[density.e_slots], density.e_top + np.log(0.05), density.e_top - 1e-3)
    theta[density.x_slots] = np.clip(theta[density.x_slots], EXPONENT_PRIOR[0] * 1.01, EXPONENT_PRIOR[1] * 0.99)
    centre = density.to_sampler(theta)
    resid = density.y - density.predict(np.concatenate([centre, np.zeros(density.n_scales)])[None])[0]
    scatter = float(np.sqrt(np.sum(density.w * resid**2) / max(density.n_runs, 1.0)))
    if noise is None:
        scales = [np.log(np.clip(scatter, 2 * SCALE_PRIOR[0], SCALE_PRIOR[1] / 2))]
    else:
        scales = [np.log(np.clip(np.sqrt(noise.variance), 2 * SCALE_PRIOR[0], SCALE_PRIOR[1] / 2)),
                  np.log(2 * SCALE_PRIOR[0])]
    start = np.concatenate([centre, scales])
    if not np.isfinite(density(start[None])[0]):
        raise PosteriorFailed("the point fit lies outside the priors")
    walkers = start + 1e-3 * rng.standard_normal((WALKERS, density.ndim))
    outside = ~np.isfinite(density(walkers))
    walkers[outside] = start  # the few that the ball pushed past a bound start at the fit itself
    walkers[outside] += 1e-6 * rng.standard_normal((int(outside.sum()), density.ndim))
    sampler = emcee.EnsembleSampler(WALKERS, density.ndim, density, vectorize=True)
    # emcee's moves draw from the sampler's own RandomState: seeded here, so a posterior reproduces.
    sampler.random_state = np.random.RandomState(int(rng.integers(2**31))).get_state()
    with np.errstate(invalid="ignore"):  # −inf − −inf of two walkers outside the prior: a rejected move
        state = walkers
        for done in range(0, burn + steps, PROGRESS_STEPS):
            state = sampler.run_mcmc(state, min(PROGRESS_STEPS, burn + steps - done), progress=False)
            if progress is not None:
                progress(min(done + PROGRESS_STEPS, burn + steps) / (burn + steps))
    if np.mean(sampler.acceptance_fraction) < MIN_ACCEPTANCE:
        raise PosteriorFailed(f"the sampler stuck (acceptance {np.mean(sampler.acceptance_fraction):.3f})")
    chain = sampler.get_chain(discard=burn, thin=THIN, flat=True)
    n_free = lay.n_free
    if noise is None:
        scatter_draws, noise_draws = np.exp(chain[:, n_free]), None
    else:
        noise_draws = np.exp(chain[:, n_free])
        scatter_draws = np.sqrt(noise_draws**2 + np.exp(2 * chain[:, n_free + 1]))
    return Posterior(lay.split(density.to_theta(chain)), scatter_draws, noise_draws,
                     float(np.mean(sampler.acceptance_fraction)))
