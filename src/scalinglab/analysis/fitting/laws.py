"""The functional forms: L = E + Σ_k A_k · x_k^(−α_k), one power-law term per input, each law a record.

Three laws share this form: L(C) = E + A·C^−α (one term, per arm), Hoffmann et al. 2022's
L(N, D) = E + A/N^α + B/D^β (two terms), and Muennighoff et al. 2023's L(N, D, U) (fitting.constrained),
which is L(N, D) at effective inputs N', D' that two more parameters of its own shape. The optimizer
works on θ = (log E, log A_k…, α_k…, log of any further parameter…), the parameterisation of
Besiroglu et al. 2024: log L̂ = LSE(log E, log A_k − α_k·log x_k) keeps E and A_k positive without
bounds and makes the fit in log space well conditioned. Natural parameters are in the same order, so
θ ↔ params is an exp on every position but the exponents.

A law says everything the fitting stack needs as data (its inputs, parameters, start grid, bounds,
where its frontier lies), so the optimizer, the bootstrap and the fitted record ask it, never its name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from scalinglab.config import ConfigError
from scalinglab.model.accounting import chinchilla_tokens

# Exponents stay in [0, 10]: a negative exponent means loss grows with scale, which is a failed
# fit to report (status "boundary"), not an answer. log E and log A_k are free.
EXPONENT_BOUNDS = (0.0, 10.0)


@dataclass(frozen=True)
class Law:
    """One loss law: which table columns feed its terms, what its parameters are called, and how it is fitted."""

    name: str
    """The name used on the command line (`--law`)."""
    inputs: tuple[str, ...]
    """Standard table columns the law reads (see analysis.table), one per power-law term unless
    `effective` maps them onto the terms."""
    coefficients: tuple[str, ...]
    exponents: tuple[str, ...]
    formula: str
    starts: Callable[[np.ndarray, np.ndarray], np.ndarray]
    """(log inputs (n, m), log losses (n,)) → starting points θ for the multi-start L-BFGS, one row each."""
    frontier_at: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    """(params (..., p), log C (...)) → the log inputs (..., m) where the best loss at compute C lies;
    None for a law of compute, which is its own frontier."""
    extras: tuple[str, ...] = ()
    """Further positive parameters, fitted in log after the exponents (bounded by `extra_bounds`)."""
    extra_bounds: tuple[float, float] = (-np.inf, np.inf)
    effective: Callable | None = None
    """(θ (..., p), log inputs (..., m), jacobian) → (log term inputs (..., k), their ∂/∂θ (..., k, p)
    or None): the inputs the power-law terms see; None when they are the inputs themselves."""
    term_of_input: tuple[int, ...] | None = None
    """For each input, the term whose units it shares (centring measures them from one point);
    None when input k is term k."""

    @property
    def n_terms(self) -> int:
        return len(self.coefficients)

    @property
    def param_names(self) -> tuple[str, ...]:
        return ("E", *self.coefficients, *self.exponents, *self.extras)

    @property
    def n_params(self) -> int:
        return len(self.param_names)

    @property
    def is_frontier(self) -> bool:
        """L(C) is already a frontier L*(C): fitted to an arm's frontier points and read at a compute;
        a law of N and D is fitted to every row and read at a model."""
        return self.frontier_at is None

    @property
    def bounds(self) -> list[tuple[float | None, float | None]]:
        """L-BFGS-B's bounds on θ: exponents in EXPONENT_BOUNDS, further parameters in extra_bounds."""
        k = self.n_terms
        return [(None, None)] * (k + 1) + [EXPONENT_BOUNDS] * k + [self.extra_bounds] * len(self.extras)

    @property
    def _in_log(self) -> np.ndarray:
        return np.array([name not in self.exponents for name in self.param_names])

    def to_theta(self, params: np.ndarray) -> np.ndarray:
        """Natural parameters → optimizer θ (a log on every position but the exponents)."""
        params = np.asarray(params, dtype=float)
        return np.where(self._in_log, np.log(np.maximum(params, 1e-300)), params)

    def from_theta(self, theta: np.ndarray) -> np.ndarray:
        theta = np.asarray(theta, dtype=float)
        return np.where(self._in_log, np.exp(np.where(self._in_log, theta, 0.0)), theta)

    def term_inputs(self, theta: np.ndarray, log_x: np.ndarray) -> np.ndarray:
        """The log inputs the power-law terms see, (..., k)."""
        return log_x if self.effective is None else self.effective(theta, log_x, False)[0]

    def loss(self, params: np.ndarray, log_x: np.ndarray) -> np.ndarray:
        """Loss elementwise: parameter rows (..., p) against inputs (..., m), broadcast → (...)."""
        params = np.asarray(params, dtype=float)
        log_x = self.term_inputs(None if self.effective is None else self.to_theta(params),
                                 np.asarray(log_x, dtype=float))
        k = self.n_terms
        terms = params[..., 1 : k + 1] * np.exp(-params[..., k + 1 : 2 * k + 1] * log_x)
        return params[..., 0] + terms.sum(axis=-1)

    def log_loss(self, theta: np.ndarray, log_x: np.ndarray) -> np.ndarray:
        """log L̂ = LSE(log E, log A_k − α_k·log x_k) elementwise: θ rows (..., p), inputs (..., m) → (...)."""
        theta = np.asarray(theta, dtype=float)
        return logsumexp(self._log_terms(theta, self.term_inputs(theta, np.asarray(log_x, dtype=float))))

    def _log_terms(self, theta: np.ndarray, log_xt: np.ndarray) -> np.ndarray:
        """(log E, log A_k − α_k·log x_k…): (..., k + 1)."""
        k = self.n_terms
        t = np.empty((*np.broadcast_shapes(theta.shape[:-1], log_xt.shape[:-1]), k + 1))
        t[..., 0] = theta[..., 0]
        t[..., 1:] = theta[..., 1 : k + 1] - theta[..., k + 1 : 2 * k + 1] * log_xt
        return t

    def log_loss_and_jacobian(self, theta: np.ndarray, log_x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """log L̂ (n,) and ∂ log L̂ / ∂θ (n, p) at the input rows log_x (n, m) for one θ.

        log L̂ = log Σ_K exp(t_K) with t_0 = log E and t_k = log A_k − α_k·log x_k, so the derivative
        by log E and by log A_k is each term's share of the loss, and by α_k that share × −log x_k;
        where the terms see effective inputs, the chain adds share_k × −α_k × ∂ log x_k/∂θ.
        """
        k = self.n_terms
        t = np.asarray(theta, dtype=float)
        log_x = np.atleast_2d(np.asarray(log_x, dtype=float))
        log_xt, d_xt = (log_x, None) if self.effective is None else self.effective(t, log_x, True)
        t_nK = self._log_terms(t, log_xt)
        m = t_nK.max(axis=1, keepdims=True)
        share = np.exp(t_nK - m)
        s = share.sum(axis=1, keepdims=True)
        share /= s  # softmax: ∂LSE/∂t, from the same exponentials as the LSE itself
        z = (m + np.log(s))[:, 0]
        jac = np.zeros((len(log_x), len(t)))
        jac[:, : k + 1] = share
        jac[:, k + 1 : 2 * k + 1] = -share[:, 1:] * log_xt
        if d_xt is not None:
            jac += np.einsum("nk,nkp->np", -share[:, 1:] * t[k + 1 : 2 * k + 1], d_xt)
        return z, jac

    def log_loss_jacobian(self, theta: np.ndarray, log_x: np.ndarray) -> np.ndarray:
        """∂ log L̂ / ∂θ at the input rows log_x (n, m) for one θ: (n, p)."""
        return self.log_loss_and_jacobian(theta, log_x)[1]

    def centred(self, log_x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(log x measured from its mean, that mean per term): inputs that share a term's units
        (tokens and unique tokens) are measured from the same point, so their ratios stay."""
        of = tuple(range(self.n_terms)) if self.term_of_input is None else self.term_of_input
        center = np.array([log_x[:, of.index(j)].mean() for j in range(self.n_terms)])
        return log_x - center[list(of)], center

    def recentred(self, theta: np.ndarray, center: np.ndarray) -> np.ndarray:
        """θ for inputs measured from `center`: log A_k − α_k·c_k, the term's size there (the law's
        effective inputs, if any, must move with their inputs: N_opt does, by its definition)."""
        k = self.n_terms
        out = np.array(theta, dtype=float)
        out[1 : k + 1] -= out[k + 1 : 2 * k + 1] * center
        return out

    def log_inputs(self, **columns) -> np.ndarray:
        """Input rows in log, (n, m), from arrays named as the table's columns (params, tokens,
        compute): the law reads the ones it has terms for."""
        return np.log(np.column_stack([np.atleast_1d(np.asarray(columns[c], dtype=float)) for c in self.inputs]))

    def predict(self, params: np.ndarray, log_x: np.ndarray) -> np.ndarray:
        """Loss for parameter rows `params` (..., p) at every input row `log_x` (n, m) → (..., n)."""
        return self.loss(np.asarray(params, dtype=float)[..., None, :], log_x)

    def frontier_inputs(self, params: np.ndarray, compute) -> np.ndarray:
        """The log inputs (..., m) where L*(C) lies, parameter rows (..., p) and C (...) broadcast."""
        log_c = np.log(np.asarray(compute, dtype=float))
        return log_c[..., None] if self.frontier_at is None else self.frontier_at(np.asarray(params, float), log_c)


def logsumexp(t: np.ndarray) -> np.ndarray:
    """log Σ exp(t) over the last axis, shifted by its max. By hand: scipy.special.logsumexp costs ~60 µs a
    call on a few dozen rows (8× this), and the optimizer calls it once per L-BFGS step."""
    m = t.max(axis=-1, keepdims=True)
    return (m + np.log(np.exp(t - m).sum(axis=-1, keepdims=True)))[..., 0]


def grid(*axes) -> np.ndarray:
    """Every combination of the axes' values, one row each."""
    return np.stack([g.ravel() for g in np.meshgrid(*axes, indexing="ij")], axis=1)


# Hoffmann et al. 2022 (App. D.2) grid, as in Besiroglu et al. 2024: for L(N, D), 4,500 starts.
HOFFMANN_E = np.arange(-1.0, 1.5, 0.5)
HOFFMANN_LOG_A = np.arange(0.0, 30.0, 5.0)
HOFFMANN_EXPONENT = np.arange(0.0, 2.5, 0.5)


def hoffmann_starts(log_x: np.ndarray, log_loss: np.ndarray) -> np.ndarray:
    return grid(HOFFMANN_E, HOFFMANN_LOG_A, HOFFMANN_LOG_A, HOFFMANN_EXPONENT, HOFFMANN_EXPONENT)


def placed_starts(log_x: np.ndarray, log_loss: np.ndarray) -> np.ndarray:
    """L(C)'s starts. Compute may be in FLOPs (log C ≈ 30–55) or in any other unit, so a fixed grid in
    log A would miss; place log A so the reducible term is a share s of the median loss at the median
    compute: log A = α·median(log C) + log(s · median L)."""
    alpha = np.array([0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0])
    share = np.array([0.03, 0.1, 0.3, 1.0, 3.0])
    mid_x, mid_l = float(np.median(log_x[:, 0])), float(np.median(log_loss))
    e, al, s = grid(HOFFMANN_E, alpha, share).T
    return np.column_stack([e, al * mid_x + mid_l + np.log(s), al])


def optimal_split(params: np.ndarray, compute) -> tuple[np.ndarray, np.ndarray]:
    """N*(C), D*(C) for parameter rows (…, p) that begin (E, A, B, α, β), at fixed C = 6ND."""
    _, a, b, alpha, beta = np.moveaxis(np.asarray(params, dtype=float)[..., :5], -1, 0)
    # A draw with an exponent at 0 has no interior optimum: its N* is 0 or inf, and its loss NaN.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        g = (alpha * a / (beta * b)) ** (1.0 / (alpha + beta))
        n = g * (compute / 6.0) ** (beta / (alpha + beta))
        return n, chinchilla_tokens(compute, n)


def split_inputs(params: np.ndarray, log_c: np.ndarray) -> np.ndarray:
    """L(N, D)'s frontier: log N*, log D* of the compute-optimal split."""
    n, d = optimal_split(params, np.exp(log_c))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.stack(np.broadcast_arrays(np.log(n), np.log(d)), axis=-1)


COMPUTE = Law("compute", ("compute",), ("A",), ("alpha",), "L(C) = E + A·C^-alpha", placed_starts)
PARAMS_TOKENS = Law("params-tokens", ("params", "tokens"), ("A", "B"), ("alpha", "beta"),
                    "L(N, D) = E + A/N^alpha + B/D^beta", hoffmann_starts, split_inputs)
LAWS = {law.name: law for law in (COMPUTE, PARAMS_TOKENS)}


def get_law(name: str | Law) -> Law:
    if isinstance(name, Law):
        return name
    if name not in LAWS:
        raise ConfigError(f"unknown law '{name}' (choose from {', '.join(LAWS)})", option="law")
    return LAWS[name]


def frontier_loss(law: Law, params: np.ndarray, compute) -> np.ndarray:
    """L*(C), the best loss at compute C; parameter rows (..., p) and C (...) broadcast elementwise.

    For L(C) that is the law itself; for a law of N and D it is the law where its frontier lies.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return law.loss(params, law.frontier_inputs(params, compute))
