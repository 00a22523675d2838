"""One training run, start to finish: set up, start or resume, train, evaluate, record the result.

Knows nothing of studies. The order of training rows is a pure function of (seed, step), and all
other state (weights, Adam moments, step, curves) is the TrainState its checkpoint holds, so a
resumed run takes exactly the steps an uninterrupted one would. The budget (plan.budget) says how
many steps and when to evaluate; train_step (train.step) is the step a throughput probe times too.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from scalinglab.config import ConfigError, RunConfig
from scalinglab.config.paths import check_folder, make_folder
from scalinglab.data import (TokenData, batch_rows, eval_batches, get_batch, load_tokens, row_indices,
                             unseen_rows)
from scalinglab.data.epochs import epochs
from scalinglab.model import Transformer
from scalinglab.plan.budget import Budget, resolve_budget
from scalinglab.train.checkpoint import damage, load_state, save_state, save_text
from scalinglab.train.optim import build_optimizer
from scalinglab.train.result import CONFIG, RESULT, EditedResult, MetricRow, RunResult, read_result, result_json
from scalinglab.train.schedules import lr_multiplier
from scalinglab.train.state import TrainState
from scalinglab.train.step import autocast, train_step

log = logging.getLogger(__name__)


class Reporter(Protocol):
    """Receives progress; the CLI draws it, studies ignore it. All methods are optional no-ops."""

    def on_start(self, total_steps: int, start_step: int, budget: Budget) -> None: ...
    def on_log(self, row: MetricRow) -> None: ...
    def on_end(self, result: RunResult) -> None: ...


def resolve_device(cfg: RunConfig) -> tuple[torch.device, torch.dtype | None]:
    """The device and the autocast dtype (None: plain fp32)."""
    want = cfg.loop.device
    if want == "cuda" and not torch.cuda.is_available():
        raise ConfigError("loop.device: 'cuda' requested but no CUDA device is available")
    device = torch.device("cuda" if want == "cuda" or (want == "auto" and torch.cuda.is_available()) else "cpu")
    precision = cfg.loop.precision
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "fp32"
    return device, (torch.bfloat16 if precision == "bf16" else None)


def build_model(cfg: RunConfig, vocab_size: int, device: torch.device) -> Transformer:
    torch.manual_seed(cfg.seed)
    model = Transformer(cfg.model, vocab_size).to(device)
    if cfg.loop.compile:
        model.hidden = torch.compile(model.hidden)  # the loss stays eager: it is already fused by hand
    return model


def eval_loss(model: Transformer, data: TokenData, cfg: RunConfig, device, dtype) -> tuple[float, float]:
    """Mean token cross-entropy (nats) on held-out rows, and its standard error across rows."""
    return _mean_loss(model, eval_batches(data.eval, cfg.data.seq_len, cfg.loop.eval_tokens, cfg.budget.batch_size),
                      device, dtype)


def evaluate_unseen_train(model: Transformer, data: TokenData, cfg: RunConfig, steps: int, device,
                          dtype) -> tuple[float | None, float | None]:
    """Mean loss and its standard error on eval_tokens of training rows the run never took (None, None
    when the run went through a whole epoch)."""
    n_rows = batch_rows(len(data.train), cfg.data.seq_len)
    rows = unseen_rows(n_rows, steps, cfg.budget.batch_size, cfg.seed, max(1, cfg.loop.eval_tokens // cfg.data.seq_len))
    if not rows.size:
        return None, None
    b = cfg.budget.batch_size
    return _mean_loss(model, (get_batch(data.train, rows[i : i + b], cfg.data.seq_len) for i in range(0, len(rows), b)),
                      device, dtype)


@torch.no_grad()
def _mean_loss(model: Transformer, batches, device, dtype) -> tuple[float, float]:
    model.eval()
    row_means = []
    for x, y in batches:
        with autocast(device, dtype):
            losses_BxL = model.token_losses(torch.from_numpy(x).to(device), torch.from_numpy(y).to(device))
        row_means.append(losses_BxL.mean(dim=1).cpu())
    model.train()
    means = torch.cat(row_means).double().numpy()
    se = float(means.std(ddof=1) / math.sqrt(len(means))) if len(means) > 1 else float("nan")
    return float(means.mean()), se


def _finished_result(out_dir: Path, cfg: RunConfig) -> RunResult | None:
    """The stored result of this run, or None when there is none to trust (then the run is finished
    from its checkpoint, which also knows its config, or trained again)."""
    path = out_dir / RESULT
    if not path.exists():
        return None
    try:
        stored = read_result(path)
    except EditedResult as e:
        aside = path.with_name("result.edited.json")  # kept, not lost: the user may want to see it
        os.replace(path, aside)
        log.warning(f"{e}; set aside as {aside.name}, and the run is finished again from its checkpoint")
        return None
    except (OSError, ValueError) as e:  # pydantic's ValidationError is a ValueError
        log.warning(f"{path}: damaged result ({damage(e)}); finishing the run from its checkpoint")
        return None
    written = _written_config(out_dir)
    if written is None:
        log.warning(f"{out_dir / CONFIG}: missing or unreadable, so {RESULT} cannot be matched to this run; "
                    "finishing it from its checkpoint")
        return None
    if written != cfg.model_dump_json():
        raise ConfigError(f"{out_dir}: holds a finished run of a different config; choose another output folder")
    return stored


def _written_config(out_dir: Path) -> str | None:
    try:
        return (out_dir / CONFIG).read_text()
    except (OSError, UnicodeDecodeError):
        return None


@dataclass(frozen=True)
class Setup:
    """What a run trains with: its data, budget, device and peak LR."""

    data: TokenData
    budget: Budget
    device: torch.device
    dtype: torch.dtype | None
    peak_lr: float
    n_rows: int
    """Rows of seq_len in the train split."""


def _setup(cfg: RunConfig) -> Setup:
    data = load_tokens(cfg.data)
    n_rows = batch_rows(len(data.train), cfg.data.seq_len)  # ≥ 1: load_tokens and data.max_train_tokens see to it
    device, dtype = resolve_device(cfg)
    return Setup(data, resolve_budget(cfg, data.vocab_size), device, dtype, cfg.optim.resolved_lr(cfg.model.width),
                 n_rows)


def _start(cfg: RunConfig, out_dir: Path, run: Setup) -> TrainState:
    """The state to go on from: the newest good checkpoint, or a new model evaluated at step 0."""
    def build() -> tuple[Transformer, torch.optim.Optimizer]:
        model = build_model(cfg, run.data.vocab_size, run.device)
        return model, build_optimizer(model, cfg.optim, run.peak_lr)

    state = load_state(out_dir, cfg, build)
    if state is not None:
        if _written_config(out_dir) != cfg.model_dump_json():  # lost or damaged: the checkpoint vouches
            save_text(out_dir / CONFIG, cfg.model_dump_json())
        return state
    state = TrainState(*build())
    make_folder(out_dir)
    save_text(out_dir / CONFIG, cfg.model_dump_json())
    init_eval, init_se = eval_loss(state.model, run.data, cfg, run.device, run.dtype)
    state.metrics.append(MetricRow(step=0, tokens=0, eval_loss=init_eval, eval_loss_se=init_se))
    return state


class LogWindow:
    """The steps since the last log line: their losses stay on the device until the window closes
    (one host sync per window, not per step), with the time and tokens they took."""

    def __init__(self):
        self.losses: list[torch.Tensor] = []
        self.start = time.perf_counter()

    def close(self) -> tuple[np.ndarray, float, int]:
        """(losses, seconds, steps) of the window; the next one starts now."""
        losses = torch.stack(self.losses).float().cpu().numpy()
        return losses, time.perf_counter() - self.start, len(self.losses)


def _diverged_at(losses: np.ndarray, first_loss: float, factor: float, step: int) -> int | None:
    """The first step of the window whose loss is not finite or above factor × the first loss."""
    bad = ~np.isfinite(losses) | (losses > factor * first_loss)
    return step - len(losses) + int(np.argmax(bad)) + 1 if bad.any() else None


def _train(cfg: RunConfig, out_dir: Path, run: Setup, state: TrainState, reporter: Reporter | None,
           t_session: float) -> int | None:
    """Train from state.step to the budget's last step (or divergence); returns the diverged step.

    t_session: when this session started (perf_counter); a checkpoint adds the wall time since."""
    budget, model, optimizer = run.budget, state.model, state.optimizer
    log_every = max(1, min(cfg.loop.log_every, budget.steps))
    last_checkpoint = time.perf_counter()
    window = LogWindow()
    while state.step < budget.steps:
        t0 = time.perf_counter()
        lr = run.peak_lr * lr_multiplier(state.step, budget.steps, cfg.schedule)
        for group in optimizer.param_groups:
            group["lr"] = lr
        rows = row_indices(run.n_rows, state.step, cfg.budget.batch_size, cfg.seed)
        x, y = get_batch(run.data.train, rows, cfg.data.seq_len)
        loss, grad_norm = train_step(model, optimizer, torch.from_numpy(x).to(run.device, non_blocking=True),
                                     torch.from_numpy(y).to(run.device, non_blocking=True), cfg, run.device, run.dtype)
        window.losses.append(loss)
        state.step += 1
        state.train_seconds += time.perf_counter() - t0

        step = state.step
        at_eval = step % budget.eval_every == 0 or step == budget.steps
        if not (step % log_every == 0 or at_eval):
            continue
        losses, seconds, n = window.close()
        state.first_loss = float(losses[0]) if state.first_loss is None else state.first_loss
        if (diverged := _diverged_at(losses, state.first_loss, cfg.loop.divergence_factor, step)) is not None:
            state.metrics.append(MetricRow(step=diverged, tokens=diverged * budget.tokens_per_step,
                                           train_loss=float(losses[diverged - step + n - 1]), lr=lr))
            return diverged
        row = MetricRow(step=step, tokens=step * budget.tokens_per_step, train_loss=float(losses.mean()), lr=lr,
                        grad_norm=float(grad_norm), tokens_per_s=n * budget.tokens_per_step / max(seconds, 1e-9))
        if at_eval:
            held_out, se = eval_loss(model, run.data, cfg, run.device, run.dtype)
            row = row.model_copy(update={"eval_loss": held_out, "eval_loss_se": se})
        state.metrics.append(row)
        if reporter:
            reporter.on_log(row)
        window = LogWindow()
        if time.perf_counter() - last_checkpoint > cfg.loop.checkpoint_seconds and step < budget.steps:
            save_state(out_dir, state, cfg, time.perf_counter() - t_session)
            last_checkpoint = time.perf_counter()
    save_state(out_dir, state, cfg, time.perf_counter() - t_session)
    return None


def _result(cfg: RunConfig, run: Setup, state: TrainState, diverged_step: int | None, wall_s: float) -> RunResult:
    budget, metrics, step = run.budget, state.metrics, state.step
    status = "diverged" if diverged_step is not None else "complete"
    trained = [m for m in metrics if m.train_loss is not None and m.step <= step]
    evals = [m for m in metrics if m.eval_loss is not None]
    final_eval = evals[-1] if status == "complete" else None
    tokens = (diverged_step or step) * budget.tokens_per_step
    unseen, unseen_se = (evaluate_unseen_train(state.model, run.data, cfg, step, run.device, run.dtype)
                         if status == "complete" else (None, None))
    unique = run.n_rows * cfg.data.seq_len  # the train rows it can draw, each seq_len tokens
    return RunResult(
        status=status, steps=diverged_step or step, steps_planned=budget.steps, tokens=tokens,
        params_non_embedding=budget.params_non_embedding, params_total=budget.params_total,
        flops=budget.flops * tokens / budget.tokens, flops_6nd=budget.flops_6nd * tokens / budget.tokens,
        vocab_size=run.data.vocab_size, lr=run.peak_lr, depth=cfg.model.resolved_depth(),
        unique_tokens=unique, epochs=epochs(tokens, unique),
        final_train_loss=trained[-1].train_loss if trained and status == "complete" else None,
        final_eval_loss=final_eval.eval_loss if final_eval else None,
        final_eval_loss_se=final_eval.eval_loss_se if final_eval else None,
        final_unseen_train_loss=unseen, final_unseen_train_loss_se=unseen_se,
        initial_eval_loss=evals[0].eval_loss if evals else None,
        diverged_step=diverged_step, wall_time_s=state.wall_seconds + wall_s,
        tokens_per_s=tokens / max(state.train_seconds, 1e-9), device=str(run.device), threads=torch.get_num_threads(),
        metrics=metrics,
    )


def train_run(cfg: RunConfig, out_dir: str | Path, *, reporter: Reporter | None = None) -> RunResult:
    """Train one run into `out_dir` (resuming from its checkpoint if there is one) and return its result."""
    out_dir = check_folder(out_dir)  # a file in the way is one line, before any work
    if (done := _finished_result(out_dir, cfg)) is not None:
        return done
    torch.set_num_threads(cfg.resolved_threads())  # part of the run's identity (config.default_threads)
    run = _setup(cfg)
    state = _start(cfg, out_dir, run)
    t_session = time.perf_counter()  # the wall time this session adds, in checkpoints and the result
    if reporter:
        reporter.on_start(run.budget.steps, state.step, run.budget)
    diverged_step = _train(cfg, out_dir, run, state, reporter, t_session)
    result = _result(cfg, run, state, diverged_step, time.perf_counter() - t_session)
    save_text(out_dir / RESULT, result_json(result))
    if reporter:
        reporter.on_end(result)
    return result
