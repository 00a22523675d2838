"""Parameter and FLOP counting: the one place these conventions live.

Porian et al. (2024) showed that counting conventions alone move fitted exponents, so every
count here is named by what it includes, and the groups sum to the total (nanochat's habit).
"""

from __future__ import annotations

from dataclasses import dataclass

from scalinglab.config import ModelConfig


@dataclass(frozen=True)
class ParamCounts:
    attention: int
    mlp: int
    norms: int
    embedding: int
    """Input table plus the output head (one table when tied): 2·V·D untied."""

    @property
    def non_embedding(self) -> int:
        """N of the scaling laws (Kaplan et al. 2020; REFERENCE: ≈ 12·L·D²)."""
        return self.attention + self.mlp + self.norms

    @property
    def total(self) -> int:
        return self.non_embedding + self.embedding


def count_params(cfg: ModelConfig, vocab_size: int) -> ParamCounts:
    d, layers, f = cfg.width, cfg.resolved_depth(), cfg.mlp_hidden
    mlp_in = 2 * f if cfg.mlp == "geglu" else f  # GeGLU has a gate and a value projection
    per_layer_norms = 2 * d + (2 * cfg.head_dim if cfg.qk_norm else 0)
    return ParamCounts(
        attention=layers * 4 * d * d,
        mlp=layers * (mlp_in * d + f * d),
        norms=layers * per_layer_norms + d,  # + the final LayerNorm
        embedding=vocab_size * d * (1 if cfg.tie_embeddings else 2),
    )


def training_flops_per_token(cfg: ModelConfig, vocab_size: int, seq_len: int) -> float:
    """Forward + backward FLOPs per token: 6·(N_non-embedding + output head) + 12·L·D·S.

    The head is a matmul like any other; the input lookup costs nothing. The attention term is
    PaLM's (Chowdhery et al. 2022, App. B), counting the full S×S score matrix.
    """
    counts = count_params(cfg, vocab_size)
    head = vocab_size * cfg.width
    return 6.0 * (counts.non_embedding + head) + 12.0 * cfg.resolved_depth() * cfg.width * seq_len


def chinchilla_flops(n_params, tokens):
    """C ≈ 6·N·D, the convention of the scaling-law literature (Kaplan 2020; Hoffmann 2022); numbers
    or arrays."""
    return 6.0 * n_params * tokens


def chinchilla_tokens(compute, n_params):
    """D = C / (6·N): the tokens a compute buys at a model size, under the same convention."""
    return compute / (6.0 * n_params)
