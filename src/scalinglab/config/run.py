"""Everything that describes one training run, as frozen, validated pydantic models.

Defaults follow ../shared/design/REFERENCE.md (NanoDO / Wortsman et al. 2023) where they are
scale-free; sizes default to something a laptop CPU trains in a minute. Presets are made in code
with `model_copy(update=...)`, never by copying files.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from scalinglab.config.rules import check_rule, evaluate


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class ModelConfig(Frozen):
    width: int = 128
    """Residual width D; a multiple of head_dim."""
    depth: int | str = 2
    """Number of blocks, or a rule of width such as 'width/64' (rounded, at least 1)."""
    head_dim: int = 64
    """Per-head dimension; heads = width / head_dim (REFERENCE: 64)."""
    mlp_ratio: float = 4.0
    """MLP hidden size F = mlp_ratio * D (REFERENCE: 4)."""
    mlp: Literal["gelu", "geglu"] = "gelu"
    """GeLU MLP (tanh approximation) or GeGLU (gated; same F)."""
    qk_norm: bool = True
    """Per-head LayerNorm on queries and keys (Wortsman et al. 2023: fixes attention-logit growth)."""
    tie_embeddings: bool = False
    """Share the input table and the output head (REFERENCE: untied)."""
    z_loss: float = 0.0
    """Weight of the z-loss log^2(Z) (Wortsman et al. 2023 use 1e-4); 0 turns it off."""

    @field_validator("width")
    @classmethod
    def _positive_width(cls, v: int) -> int:
        if v <= 0:
            raise ValueError("must be positive")
        return v

    @field_validator("depth", mode="before")
    @classmethod
    def _depth_rule(cls, v):
        return check_rule(v) if isinstance(v, str) else v

    @model_validator(mode="after")
    def _width_fits_heads(self) -> ModelConfig:
        if self.width % self.head_dim:
            raise ValueError(f"width: {self.width} is not a multiple of head_dim {self.head_dim}")
        if self.resolved_depth() < 1:
            raise ValueError(f"depth: '{self.depth}' gives {self.resolved_depth()} layers at width {self.width}")
        return self

    def resolved_depth(self) -> int:
        return max(1, round(evaluate(self.depth, width=self.width))) if isinstance(self.depth, str) else self.depth

    @property
    def heads(self) -> int:
        return self.width // self.head_dim

    @property
    def mlp_hidden(self) -> int:
        return int(round(self.mlp_ratio * self.width))


class DataConfig(Frozen):
    source: str = "stdlib"
    """'stdlib' (the running Python's standard library sources), 'files:<glob>' (.txt, .jsonl, C4 .json.gz) or 'hf:<name>[:<config>]'."""
    tokenizer: str = "bpe:4096"
    """'bytes', 'bpe:<vocab_size>' (trained on the train split, cached) or 'sentencepiece:<path>'."""
    seq_len: int = 256
    """Tokens per training row (REFERENCE: 512)."""
    eval_fraction: float = 0.02
    """Share of documents held out for evaluation (chosen by a hash of the document, so stable)."""
    max_documents: int | None = None
    """Read at most this many documents (handy for streaming sources); None reads all."""
    cache_dir: str | None = None
    """Where tokenized arrays are cached; None uses $SCALINGLAB_CACHE or ~/.cache/scalinglab."""

    @field_validator("source")
    @classmethod
    def _known_source(cls, v: str) -> str:
        if v != "stdlib" and not v.startswith(("files:", "hf:")):
            raise ValueError(f"unknown source '{v}' (use 'stdlib', 'files:<glob>' or 'hf:<name>[:<config>]')")
        return v

    @field_validator("tokenizer")
    @classmethod
    def _known_tokenizer(cls, v: str) -> str:
        kind, _, arg = v.partition(":")
        if kind == "bytes" and not arg:
            return v
        if kind == "bpe" and arg.isdigit() and 260 <= int(arg) <= 2**31:
            return v
        if kind == "sentencepiece" and arg:
            return v
        raise ValueError(f"unknown tokenizer '{v}' (use 'bytes', 'bpe:<vocab_size >= 260>' or 'sentencepiece:<path>')")

    @field_validator("seq_len")
    @classmethod
    def _seq_positive(cls, v: int) -> int:
        if v < 2:
            raise ValueError("must be at least 2")
        return v

    @field_validator("eval_fraction")
    @classmethod
    def _fraction(cls, v: float) -> float:
        if not 0 < v < 1:
            raise ValueError("must be between 0 and 1")
        return v


class OptimConfig(Frozen):
    lr: float | str = 0.01
    """Peak learning rate: a number or a rule of width such as '2/width' (the paper's crossover arms)."""
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-20
    """AdamW epsilon (paper, reported: 1e-20; Wortsman: 1e-8)."""
    weight_decay: float = 0.1
    """Decay strength lambda; how it enters depends on decay_mode."""
    decay_mode: Literal["coupled", "independent", "none"] = "coupled"
    """coupled: theta -= lr_t * lambda * theta (optax adamw, the paper's default);
    independent: theta -= (lr_t / lr_peak) * lambda * theta (Wortsman et al.); none: no decay."""
    l2: float = 0.0
    """Explicit L2 penalty (l2/2)*||theta||^2 added to the loss, so it passes through Adam's preconditioner."""
    grad_clip: float = 1.0
    """Clip gradients to this global norm; 0 turns clipping off."""
    grad_normalize: bool = False
    """Divide gradients by their global norm before Adam (the paper's gradient-normalization arm)."""

    @field_validator("lr", mode="before")
    @classmethod
    def _lr_rule(cls, v):
        return check_rule(v)

    def resolved_lr(self, width: int) -> float:
        return evaluate(self.lr, width=width)


class ScheduleConfig(Frozen):
    kind: Literal["cosine", "constant", "linear", "rsqrt", "wsd"] = "cosine"
    """Shape after warmup: cosine (default), constant, linear, rsqrt or warmup-stable-decay."""
    warmup: float = 0.05
    """Warmup length: a fraction of all steps when < 1, else a number of steps."""
    final_fraction: float = 0.1
    """LR at the end as a fraction of the peak (cosine, linear, wsd; NanoDO: 10%)."""
    decay_fraction: float = 0.2
    """wsd only: the share of steps spent in the final decay."""

    @field_validator("warmup", "final_fraction", "decay_fraction")
    @classmethod
    def _non_negative(cls, v: float) -> float:
        if v < 0:
            raise ValueError("must not be negative")
        return v


class BudgetConfig(Frozen):
    tokens: float | None = None
    """Training tokens; None derives them from tokens_per_param."""
    tokens_per_param: float = 20.0
    """Chinchilla rule (Hoffmann et al. 2022: ~20 tokens per parameter)."""
    param_count: Literal["non_embedding", "total"] = "non_embedding"
    """Which N the budget multiplies (REFERENCE: non-embedding)."""
    batch_size: int = 16
    """Sequences per optimizer step (REFERENCE: 256)."""

    @field_validator("batch_size")
    @classmethod
    def _batch_positive(cls, v: int) -> int:
        if v < 1:
            raise ValueError("must be at least 1")
        return v

    @field_validator("tokens")
    @classmethod
    def _tokens_positive(cls, v: float | None) -> float | None:
        if v is not None and v <= 0:
            raise ValueError("must be positive")
        return v


class LoopConfig(Frozen):
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """auto picks CUDA when present."""
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """auto: bf16 autocast on CUDA, fp32 on CPU (bf16 matmul on a laptop CPU is ~90x slower)."""
    compile: bool = False
    """torch.compile the model (pays on GPU; ~1.0x on CPU)."""
    threads: int | None = None
    """Torch intra-op threads; None leaves torch's default."""
    eval_every: int = 0
    """Steps between evaluations; 0 spends about a tenth of the run on 1 to 10 evaluations."""
    eval_tokens: int = 32768
    """Held-out tokens scored at each evaluation (the final one too)."""
    log_every: int = 10
    """Steps between logged metrics."""
    checkpoint_seconds: float = 60.0
    """Wall-clock seconds between checkpoints (one is always written at the end)."""
    divergence_factor: float = 1.5
    """A loss above this multiple of the first step's loss (or NaN/Inf) ends the run as diverged."""


class RunConfig(Frozen):
    """One training run, fully described. Its content hash is the run's identity."""

    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    optim: OptimConfig = OptimConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    budget: BudgetConfig = BudgetConfig()
    loop: LoopConfig = LoopConfig()
    seed: int = 0
    """Seeds the initialization and the order of training rows."""

    def digest(self) -> str:
        """A short content hash: equal configs share it, so the same run is never trained twice."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:10]
