"""The functional forms: L = E + Σ_k A_k · x_k^(−α_k), one power-law term per input.

Two laws share this form: L(C) = E + A·C^−α (one term, per arm) and Hoffmann et al. 2022's
L(N, D) = E + A/N^α + B/D^β (two terms). The optimizer works on θ = (log E, log A_k…, α_k…),
the parameterisation of Besiroglu et al. 2024: log L̂ = LSE(log E, log A_k − α_k·log x_k) keeps E
and A_k positive without bounds and makes the fit in log space well conditioned. Natural
parameters are (E, A_k…, α_k…) in the same order, so θ ↔ params is an exp on the first 1 + k.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scalinglab.config import ConfigError
from scalinglab.model.accounting import chinchilla_tokens


@dataclass(frozen=True)
class Law:
    """One loss law: which table columns feed its terms and what its parameters are called."""

    name: str
    """The name used on the command line (`--law`)."""
    inputs: tuple[str, ...]
    """Standard table columns, one per power-law term (see analysis.table)."""
    coefficients: tuple[str, ...]
    exponents: tuple[str, ...]
    formula: str

    @property
    def n_terms(self) -> int:
        return len(self.inputs)

    @property
    def param_names(self) -> tuple[str, ...]:
        return ("E", *self.coefficients, *self.exponents)

    @property
    def n_params(self) -> int:
        return 1 + 2 * self.n_terms

    def to_theta(self, params: np.ndarray) -> np.ndarray:
        """Natural (E, A_k…, α_k…) → optimizer θ (log E, log A_k…, α_k…)."""
        params = np.asarray(params, dtype=float)
        k = self.n_terms
        return np.concatenate([np.log(np.maximum(params[..., : k + 1], 1e-300)), params[..., k + 1 :]], axis=-1)

    def from_theta(self, theta: np.ndarray) -> np.ndarray:
        theta = np.asarray(theta, dtype=float)
        k = self.n_terms
        return np.concatenate([np.exp(theta[..., : k + 1]), theta[..., k + 1 :]], axis=-1)

    def loss(self, params: np.ndarray, log_x: np.ndarray) -> np.ndarray:
        """Loss elementwise: parameter rows (..., p) against inputs (..., k), broadcast → (...)."""
        params = np.asarray(params, dtype=float)
        k = self.n_terms
        terms = params[..., 1 : k + 1] * np.exp(-params[..., k + 1 :] * np.asarray(log_x, dtype=float))
        return params[..., 0] + terms.sum(axis=-1)

    def log_inputs(self, **columns) -> np.ndarray:
        """Input rows in log, (n, k), from arrays named as the table's columns (params, tokens,
        compute): the law reads the ones it has terms for."""
        return np.log(np.column_stack([np.atleast_1d(np.asarray(columns[c], dtype=float)) for c in self.inputs]))

    def log_loss_jacobian(self, theta: np.ndarray, log_x: np.ndarray) -> np.ndarray:
        """∂ log L̂ / ∂θ at the input rows log_x (n, k) for one θ (log E, log A_k…, α_k…): (n, p).

        log L̂ = log Σ_K exp(t_K) with t_0 = log E and t_k = log A_k − α_k·log x_k, so the derivative
        by log E and by log A_k is each term's share of the loss, and by α_k that share × −log x_k.
        """
        k = self.n_terms
        t = np.asarray(theta, dtype=float)
        log_x = np.atleast_2d(np.asarray(log_x, dtype=float))
        t_nK = np.concatenate([np.full((len(log_x), 1), t[0]), t[1 : k + 1] - t[k + 1 :] * log_x], axis=1)
        share = np.exp(t_nK - t_nK.max(axis=1, keepdims=True))
        share /= share.sum(axis=1, keepdims=True)
        return np.concatenate([share, -share[:, 1:] * log_x], axis=1)

    def predict(self, params: np.ndarray, log_x: np.ndarray) -> np.ndarray:
        """Loss for parameter rows `params` (..., p) at every input row `log_x` (n, k) → (..., n)."""
        return self.loss(np.asarray(params, dtype=float)[..., None, :], log_x)

    def start_grid(self, log_x: np.ndarray, log_loss: np.ndarray) -> np.ndarray:
        """Starting points θ for the multi-start L-BFGS, one row each."""
        if self.name == PARAMS_TOKENS.name:
            # Hoffmann et al. 2022 (App. D.2) grid, as in Besiroglu et al. 2024: 4,500 starts.
            e = np.arange(-1.0, 1.5, 0.5)
            a = np.arange(0.0, 30.0, 5.0)
            alpha = np.arange(0.0, 2.5, 0.5)
            g = np.meshgrid(e, a, a, alpha, alpha, indexing="ij")
            return np.stack([x.ravel() for x in g], axis=1)
        # L(C): compute may be in FLOPs (log C ≈ 30–55) or in any other unit, so a fixed grid in
        # log A would miss; place log A so the reducible term is a share s of the median loss at
        # the median compute: log A = α·median(log C) + log(s · median L).
        e = np.arange(-1.0, 1.5, 0.5)
        alpha = np.array([0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0])
        share = np.array([0.03, 0.1, 0.3, 1.0, 3.0])
        rows = []
        mid_x = float(np.median(log_x[:, 0]))
        mid_l = float(np.median(log_loss))
        for ei in e:
            for al in alpha:
                for s in share:
                    rows.append((ei, al * mid_x + mid_l + np.log(s), al))
        return np.array(rows)


COMPUTE = Law("compute", ("compute",), ("A",), ("alpha",), "L(C) = E + A·C^-alpha")
PARAMS_TOKENS = Law("params-tokens", ("params", "tokens"), ("A", "B"), ("alpha", "beta"), "L(N, D) = E + A/N^alpha + B/D^beta")
LAWS = {law.name: law for law in (COMPUTE, PARAMS_TOKENS)}


def get_law(name: str | Law) -> Law:
    if isinstance(name, Law):
        return name
    if name not in LAWS:
        raise ConfigError(f"unknown law '{name}' (choose from {', '.join(LAWS)})", option="law")
    return LAWS[name]


def optimal_split(params: np.ndarray, compute: float) -> tuple[np.ndarray, np.ndarray]:
    """N*(C), D*(C) for parameter rows (…, 5) in PARAMS_TOKENS order (E, A, B, α, β)."""
    _, a, b, alpha, beta = np.moveaxis(np.asarray(params, dtype=float), -1, 0)
    # A draw with an exponent at 0 has no interior optimum: its N* is 0 or inf, and its loss NaN.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        g = (alpha * a / (beta * b)) ** (1.0 / (alpha + beta))
        n = g * (compute / 6.0) ** (beta / (alpha + beta))
        return n, chinchilla_tokens(compute, n)


def frontier_loss(law: Law, params: np.ndarray, compute) -> np.ndarray:
    """L*(C), the best loss at compute C; parameter rows (..., p) and C (...) broadcast elementwise.

    For L(C) that is the law itself; for L(N, D) it is the law at the compute-optimal split.
    """
    params = np.asarray(params, dtype=float)
    log_c = np.log(np.asarray(compute, dtype=float))
    if law.name == PARAMS_TOKENS.name:
        n, d = optimal_split(params, np.exp(log_c))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return law.loss(params, np.stack(np.broadcast_arrays(np.log(n), np.log(d)), axis=-1))
    return law.loss(params, log_c[..., None])
