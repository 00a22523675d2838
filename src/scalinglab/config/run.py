"""Everything that describes one training run, as frozen, validated pydantic models.

Defaults follow the reference setup (NanoDO / Wortsman et al. 2023; each field cites its source) where they are
scale-free; sizes default to something a laptop CPU trains in a minute. Presets are made in code
with `model_copy(update=...)`, never by copying files.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_serializer, model_validator

from scalinglab.config.checks import (
    MAX_BATCH,
    MAX_DEPTH,
    MAX_DEVICES,
    MAX_SEED,
    MAX_SEQ_LEN,
    MAX_THREADS,
    MAX_TOKENS,
    MAX_WIDTH,
    Boolean,
    real,
    real_number,
    shown,
    whole,
    whole_number,
)
from scalinglab.config.errors import ConfigError
from scalinglab.config.paths import check_folder
from scalinglab.config.rules import RuleError, check_rule, evaluate_rule


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class ModelConfig(Frozen):
    width: whole(ge=1, le=MAX_WIDTH) = 128
    """Residual width D; a multiple of head_dim."""
    depth: int | str = 2
    """Number of blocks, or a rule of width such as 'width/64' (rounded, at least 1)."""
    head_dim: whole(ge=2, le=MAX_WIDTH, message="must be an even number ≥ 2, got {n}") = 64
    """Per-head dimension; heads = width / head_dim (REFERENCE: 64). Even: RoPE rotates pairs."""
    mlp_ratio: real(gt=0, cap=1024) = 4.0
    """MLP hidden size F = mlp_ratio * D (REFERENCE: 4)."""
    mlp: Literal["gelu", "geglu"] = "gelu"
    """GeLU MLP (tanh approximation) or GeGLU (gated; same F)."""
    qk_norm: Boolean = True
    """Per-head LayerNorm on queries and keys (Wortsman et al. 2023: fixes attention-logit growth)."""
    tie_embeddings: Boolean = False
    """Share the input table and the output head (REFERENCE: untied)."""
    z_loss: real(ge=0) = 0.0
    """Weight of the z-loss log^2(Z) (Wortsman et al. 2023 use 1e-4); 0 turns it off."""

    @field_validator("head_dim")
    @classmethod
    def _even_head_dim(cls, v: int) -> int:
        if v % 2:
            raise ValueError(f"must be an even number ≥ 2, got {v}")
        return v

    @field_validator("depth", mode="before")
    @classmethod
    def _depth_rule(cls, v):
        if isinstance(v, str):
            return check_rule(v)
        if isinstance(v, float) and v.is_integer():  # '2' in a string: check_rule makes it 2.0
            v = int(v)
        whole_number(v)
        return v

    @model_validator(mode="after")
    def _width_fits_heads(self) -> ModelConfig:
        if self.width % self.head_dim:
            raise ValueError(f"width: {self.width} is not a multiple of head_dim {self.head_dim}")
        try:
            depth = evaluate_rule(self.depth, width=self.width)
        except RuleError as e:
            raise ValueError(f"depth: {e}") from None
        if depth < 1 and not isinstance(self.depth, str):
            raise ValueError(f"depth: '{self.depth}' gives {depth:g} layers at width {self.width}")
        if depth > MAX_DEPTH:
            raise ValueError(f"depth: '{self.depth}' gives {depth:.4g} layers at width {self.width}; at most {MAX_DEPTH}")
        if self.mlp_hidden < 1:
            raise ValueError(f"mlp_ratio: {self.mlp_ratio:g} gives an MLP of 0 units at width {self.width}")
        return self

    def resolved_depth(self) -> int:
        return max(1, round(evaluate_rule(self.depth, width=self.width))) if isinstance(self.depth, str) else self.depth

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
    seq_len: whole(ge=2, le=MAX_SEQ_LEN) = 256
    """Tokens per training row (REFERENCE: 512)."""
    eval_fraction: real(gt=0, lt=1) = 0.02
    """Share of documents held out for evaluation (chosen by a hash of the document, so stable)."""
    max_documents: whole(ge=1, optional=True) = None
    """Read at most this many documents (handy for streaming sources); None reads all."""
    cache_dir: str | None = None
    """Where tokenized arrays are cached; None uses $SCALINGLAB_CACHE or ~/.cache/scalinglab."""
    max_train_tokens: whole(ge=1, optional=True) = None
    """Train on the first N tokens of the packed train split only (its unique tokens); None: all of it.
    A budget beyond them repeats data, epoch after epoch: the many-epoch regime, made deliberate.
    The eval split is untouched."""

    @model_serializer(mode="wrap")
    def _cap_only_when_set(self, handler):
        # Written only when set, so the config JSON (and the digest, the run id) of every run from
        # before the setting existed is unchanged: their stored results and checkpoints stay theirs.
        out = handler(self)
        if self.max_train_tokens is None:
            out.pop("max_train_tokens", None)
        return out

    def check_cache_dir(self, where: str = "") -> None:
        """Refuse a cache folder this process cannot create or write in, when the settings are loaded:
        found by the first run instead, every run of a study failed on it."""
        if self.cache_dir is None:
            return
        try:
            check_folder(Path(self.cache_dir).expanduser())
        except ConfigError as e:
            raise ConfigError(f"data.cache_dir: {e.text}", where=where or None) from None

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


class OptimConfig(Frozen):
    lr: float | str = 0.01
    """Peak learning rate: a number or a rule of width such as '2/width' (the paper's crossover arms)."""
    beta1: real(ge=0, lt=1) = 0.9
    beta2: real(ge=0, lt=1) = 0.95
    eps: real(ge=0) = 1e-20
    """AdamW epsilon (paper, reported: 1e-20; Wortsman: 1e-8)."""
    weight_decay: real(ge=0) = 0.1
    """Decay strength lambda; how it enters depends on decay_mode."""
    decay_mode: Literal["coupled", "independent", "none"] = "coupled"
    """coupled: theta -= lr_t * lambda * theta (optax adamw, the paper's default);
    independent: theta -= (lr_t / lr_peak) * lambda * theta (Wortsman et al.); none: no decay."""
    l2: real(ge=0) = 0.0
    """Explicit L2 penalty (l2/2)*||theta||^2 added to the loss, so it passes through Adam's preconditioner."""
    grad_clip: real(ge=0) = 1.0
    """Clip gradients to this global norm; 0 turns clipping off."""
    grad_normalize: Boolean = False
    """Divide gradients by their global norm before Adam (the paper's gradient-normalization arm)."""

    @field_validator("lr", mode="before")
    @classmethod
    def _lr_rule(cls, v):
        v = check_rule(v)
        if not isinstance(v, str):
            _positive_lr(real_number(v), v)
        return v

    def resolved_lr(self, width: int) -> float:
        return evaluate_rule(self.lr, width=width)


def _positive_lr(lr: float, written: float | str) -> None:
    if not (math.isfinite(lr) and lr > 0):
        got = shown(written) if isinstance(written, (int, float)) else f"'{written}' = {lr:g}"
        raise ValueError(f"must be a finite positive number, got {got}")


class ScheduleConfig(Frozen):
    kind: Literal["cosine", "constant", "linear", "rsqrt", "wsd"] = "cosine"
    """Shape after warmup: cosine (default), constant, linear, rsqrt or warmup-stable-decay."""
    warmup: real(ge=0, cap=MAX_TOKENS) = 0.05
    """Warmup length: a fraction of all steps when < 1, else a number of steps."""
    final_fraction: real(ge=0, le=1) = 0.1
    """LR at the end as a fraction of the peak (cosine, linear, wsd; NanoDO: 10%)."""
    decay_fraction: real(ge=0, le=1) = 0.2
    """wsd only: the share of steps spent in the final decay."""


class BudgetConfig(Frozen):
    tokens: real(gt=0, cap=MAX_TOKENS, optional=True) = None
    """Training tokens; None derives them from tokens_per_param."""
    tokens_per_param: real(gt=0, cap=1e6) = 20.0
    """Chinchilla rule (Hoffmann et al. 2022: ~20 tokens per parameter)."""
    param_count: Literal["non_embedding", "total"] = "non_embedding"
    """Which N the budget multiplies (REFERENCE: non-embedding)."""
    batch_size: whole(ge=1, le=MAX_BATCH, message="must be at least 1") = 16
    """Sequences per optimizer step (REFERENCE: 256)."""


class LoopConfig(Frozen):
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """auto picks CUDA when present."""
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """auto: bf16 autocast on CUDA, fp32 on CPU (bf16 matmul on a laptop CPU is ~90x slower)."""
    compile: Boolean = False
    """torch.compile the model (pays on GPU; ~1.0x on CPU)."""
    threads: whole(ge=1, le=MAX_THREADS, optional=True) = None
    """Torch intra-op threads the run trains with; None: default_threads(width). Part of the run's
    identity: a run trains with this count whatever the machine or the number of workers."""
    devices: int | str = 1
    """Processes the run trains on, data-parallel (one per GPU; on CPU each with `threads` threads),
    or a rule of width such as '1 if width < 1024 else 8'. Each takes batch_size / devices rows of
    every batch. Part of the run's identity: it changes the order of the gradient sums."""
    eval_every: whole(ge=0) = 0
    """Steps between evaluations; 0 spends about a tenth of the run on 1 to 10 evaluations."""
    eval_tokens: whole(ge=1, le=int(MAX_TOKENS)) = 32768
    """Held-out tokens scored at each evaluation (the final one too)."""
    log_every: whole(ge=1) = 10
    """Steps between logged metrics."""
    checkpoint_seconds: real(ge=0) = 60.0
    """Wall-clock seconds between checkpoints (one is always written at the end)."""
    divergence_factor: real(gt=1) = 1.5
    """A loss above this multiple of the first step's loss (or NaN/Inf) ends the run as diverged."""

    @field_validator("devices", mode="before")
    @classmethod
    def _devices_rule(cls, v):
        if isinstance(v, str):
            v = check_rule(v)
            if isinstance(v, str):
                return v
            if v.is_integer():  # '2' in a string: check_rule makes it 2.0
                v = int(v)
        n = whole_number(v)
        if not 1 <= n <= MAX_DEVICES:
            raise ValueError(f"must be a whole number from 1 to {MAX_DEVICES}, got {n}")
        return n

    @model_serializer(mode="wrap")
    def _devices_only_when_several(self, handler):
        # Written only when not 1, so the config JSON (and the run id) of every one-process run,
        # those from before the setting existed included, is unchanged.
        out = handler(self)
        if self.devices == 1:
            out.pop("devices", None)
        return out


def default_threads(width: int) -> int:
    """The torch threads of a run that does not set loop.threads: 1 up to width 256, 2 up to 1024, 4 above.

    A run's thread count is part of what it computes: torch's CPU kernels split matmuls and
    reductions by thread count, so the order of float additions changes with it, and training
    amplifies the rounding. With the count taken from the machine (1 thread under `--workers 2`,
    2 under `--workers 1`) one run id gave losses 0.05 nats apart (issue 11, width 24);
    benchmarks/threads.py measures it on the demo's settings. So the count is a function of the
    spec, fixed here: changing these numbers changes what existing run ids mean.

    The numbers are the throughput choice of the 2-core development machine: two 1-thread
    processes beat one 2-thread process by 1.32× at width 64, 1.11× at 128 and 1.05× at 256
    (PERFORMANCE.md, before the chunked loss); with the chunked loss and MALLOC_ENV, 1.34× at 64/2
    and 1.31× at 128/4 (benchmarks/workers.py), and 5-8× when other work shares the cores. Small
    matmuls don't split well across threads; separate processes share nothing. Beyond the measured
    range a run gets a few cores (an unmeasured guess, kept modest). On a GPU the count only sets
    the CPU side's threads.
    """
    if width <= 256:
        return 1
    return 2 if width <= 1024 else 4


class RunConfig(Frozen):
    """One training run, fully described. Its content hash is the run's identity."""

    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    optim: OptimConfig = OptimConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    budget: BudgetConfig = BudgetConfig()
    loop: LoopConfig = LoopConfig()
    seed: whole(ge=0, le=MAX_SEED) = 0
    """Seeds the initialization and the order of training rows."""

    @model_validator(mode="after")
    def _lr_at_width(self) -> RunConfig:
        """An lr rule is known only at a width: '2/(width-64)' is fine at 128 and not at 64."""
        if isinstance(self.optim.lr, str):
            try:
                lr = self.optim.resolved_lr(self.model.width)
            except RuleError as e:
                raise ValueError(f"optim.lr: {e}") from None
            try:
                _positive_lr(lr, self.optim.lr)
            except ValueError as e:
                raise ValueError(f"optim.lr: {e} at width {self.model.width}") from None
        return self

    @model_validator(mode="after")
    def _cap_holds_a_batch(self) -> RunConfig:
        """A cap below one batch would leave fewer rows than a step draws."""
        cap, b, s = self.data.max_train_tokens, self.budget.batch_size, self.data.seq_len
        if cap is not None and cap < b * s + 1:
            raise ValueError(f"data.max_train_tokens: {cap} is less than one batch, batch_size × seq_len + 1 = "
                             f"{b} × {s} + 1 = {b * s + 1} tokens (the + 1: the last row's last target)")
        return self

    @model_validator(mode="after")
    def _devices_at_width(self) -> RunConfig:
        """A devices rule is known only at a width; each device takes an equal share of a batch."""
        try:
            devices = self.resolved_devices()
        except (RuleError, ValueError) as e:
            raise ValueError(f"loop.devices: {e}") from None
        if self.budget.batch_size % devices:
            at = f" (at width {self.model.width})" if isinstance(self.loop.devices, str) else ""
            raise ValueError(f"loop.devices: {devices}{at} does not divide budget.batch_size {self.budget.batch_size} "
                             "(each device takes an equal share of every batch)")
        return self

    def resolved_devices(self) -> int:
        """The run's world size: loop.devices, its rule evaluated at the width (ValueError if that is not
        a whole number of devices)."""
        devices = self.loop.devices
        if isinstance(devices, int):
            return devices
        n = evaluate_rule(devices, width=self.model.width)
        if not (n.is_integer() and 1 <= n <= MAX_DEVICES):
            raise ValueError(f"'{devices}' gives {n:g} devices at width {self.model.width}; a whole number "
                             f"from 1 to {MAX_DEVICES} is needed")
        return int(n)

    def resolved_threads(self) -> int:
        """The torch intra-op threads this run trains with (loop.threads or the width's default)."""
        return self.loop.threads or default_threads(self.model.width)

    def digest(self) -> str:
        """A short content hash: equal configs share it, so the same run is never trained twice."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:10]
