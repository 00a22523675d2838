"""One training run, start to finish: data, model, optimizer, the loop, eval, checkpoints, result.

Knows nothing of studies. The order of training rows is a pure function of (seed, step), and all
other state (weights, Adam moments, step, curves) is in the checkpoint, so a resumed run takes
exactly the steps an uninterrupted one would.
"""

from __future__ import annotations

import logging
import math
import time
from contextlib import nullcontext
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
from scalinglab.train.checkpoint import RESULT, damage, load_checkpoint, save_checkpoint, save_text
from scalinglab.train.optim import build_optimizer, prepare_gradients
from scalinglab.train.result import MetricRow, RunResult
from scalinglab.train.schedules import lr_multiplier

CONFIG = "config.json"
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


def _autocast(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


def evaluate(model: Transformer, data: TokenData, cfg: RunConfig, device, dtype) -> tuple[float, float]:
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
        with _autocast(device, dtype):
            losses_BxL = model.token_losses(torch.from_numpy(x).to(device), torch.from_numpy(y).to(device))
        row_means.append(losses_BxL.mean(dim=1).cpu())
    model.train()
    means = torch.cat(row_means).double().numpy()
    se = float(means.std(ddof=1) / math.sqrt(len(means))) if len(means) > 1 else float("nan")
    return float(means.mean()), se


def auto_eval_every(steps: int, train_tokens: int, eval_tokens: int) -> int:
    """Steps between evals such that evaluation costs about a tenth of training, with 1 to 10 evals.

    An eval token costs about a third of a training token (forward only), hence the 0.3.
    """
    n_evals = min(10, max(1, int(0.3 * train_tokens / max(eval_tokens, 1))))
    return max(1, steps // n_evals)


def _finished_result(out_dir: Path, cfg: RunConfig) -> RunResult | None:
    """The stored result of this run, or None when there is none to trust (then the run is finished
    from its checkpoint, which also knows its config, or trained again)."""
    path = out_dir / RESULT
    if not path.exists():
        return None
    try:
        stored = RunResult.model_validate_json(path.read_text())
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


def train_run(cfg: RunConfig, out_dir: str | Path, *, reporter: Reporter | None = None) -> RunResult:
    """Train one run into `out_dir` (resuming from its checkpoint if there is one) and return its result."""
    out_dir = check_folder(out_dir)  # a file in the way is one line, before any work
    if (done := _finished_result(out_dir, cfg)) is not None:
        return done
    torch.set_num_threads(cfg.resolved_threads())  # part of the run's identity (config.default_threads)
    data = load_tokens(cfg.data)
    budget = resolve_budget(cfg, data.vocab_size)
    device, dtype = resolve_device(cfg)
    peak_lr = cfg.optim.resolved_lr(cfg.model.width)
    n_rows = batch_rows(len(data.train), cfg.data.seq_len)
    if n_rows < 1:
        raise ConfigError(f"data: the train split has {len(data.train)} tokens, fewer than one row of seq_len")

    def build() -> tuple[Transformer, torch.optim.Optimizer]:
        model = build_model(cfg, data.vocab_size, device)
        return model, build_optimizer(model, cfg.optim, peak_lr)

    restored: list[tuple[Transformer, torch.optim.Optimizer]] = []

    def restore(state: dict) -> None:
        if state.get("config") != cfg.model_dump_json():
            raise ConfigError(f"{out_dir}: holds a checkpoint of a different config; choose another output folder")
        # Fresh objects for each file tried: a load that fails half-way leaves them half-loaded.
        model, optimizer = build()
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        state["metrics"] = [MetricRow(**m) for m in state["metrics"]]
        for key, kind in (("step", int), ("train_seconds", float), ("wall_seconds", float)):
            if not isinstance(state[key], kind):
                raise ValueError(f"{key} is a {type(state[key]).__name__}")
        restored.append((model, optimizer))

    state = load_checkpoint(out_dir, restore)
    if state is None:
        model, optimizer = build()
        make_folder(out_dir)
        save_text(out_dir / CONFIG, cfg.model_dump_json())
        init_eval, init_se = evaluate(model, data, cfg, device, dtype)
        state = {"step": 0, "metrics": [MetricRow(step=0, tokens=0, eval_loss=init_eval, eval_loss_se=init_se)],
                 "first_loss": None, "train_seconds": 0.0, "wall_seconds": 0.0}
    else:
        model, optimizer = restored[-1]
        if _written_config(out_dir) != cfg.model_dump_json():  # lost or damaged: the checkpoint vouches
            save_text(out_dir / CONFIG, cfg.model_dump_json())

    steps = budget.steps
    eval_every = cfg.loop.eval_every or auto_eval_every(steps, budget.tokens, cfg.loop.eval_tokens)
    log_every = max(1, min(cfg.loop.log_every, steps))
    metrics: list[MetricRow] = state["metrics"]
    first_loss: float | None = state["first_loss"]
    if reporter:
        reporter.on_start(steps, state["step"], budget)

    def checkpoint(step: int) -> None:
        save_checkpoint(out_dir, {
            "config": cfg.model_dump_json(), "step": step, "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "metrics": [m.model_dump() for m in metrics],
            "first_loss": first_loss, "train_seconds": train_seconds, "wall_seconds": wall_before + time.perf_counter() - t_wall,
        })

    train_seconds, wall_before = state["train_seconds"], state["wall_seconds"]
    t_wall = last_checkpoint = time.perf_counter()
    window_losses: list[torch.Tensor] = []  # device tensors: one host sync per log window, not per step
    window_start, window_tokens_t0 = time.perf_counter(), state["step"]
    diverged_step: int | None = None
    step = state["step"]
    while step < steps:
        t0 = time.perf_counter()
        lr = peak_lr * lr_multiplier(step, steps, cfg.schedule)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = get_batch(data.train, row_indices(n_rows, step, cfg.budget.batch_size, cfg.seed), cfg.data.seq_len)
        x_t, y_t = torch.from_numpy(x).to(device, non_blocking=True), torch.from_numpy(y).to(device, non_blocking=True)
        with _autocast(device, dtype):
            loss = model.loss(x_t, y_t)
        loss.backward()
        grad_norm = prepare_gradients(model, cfg.optim)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        window_losses.append(loss.detach())
        step += 1
        train_seconds += time.perf_counter() - t0

        at_log = step % log_every == 0 or step == steps
        at_eval = step % eval_every == 0 or step == steps
        if at_log or at_eval:
            losses = torch.stack(window_losses).float().cpu().numpy()
            if first_loss is None:
                first_loss = float(losses[0])
            bad = ~np.isfinite(losses) | (losses > cfg.loop.divergence_factor * first_loss)
            if bad.any():
                diverged_step = step - len(losses) + int(np.argmax(bad)) + 1
                metrics.append(MetricRow(step=diverged_step, tokens=diverged_step * budget.tokens_per_step,
                                         train_loss=float(losses[bad][0]), lr=lr))
                break
            elapsed = time.perf_counter() - window_start
            row = MetricRow(step=step, tokens=step * budget.tokens_per_step, train_loss=float(losses.mean()),
                            lr=lr, grad_norm=float(grad_norm),
                            tokens_per_s=(step - window_tokens_t0) * budget.tokens_per_step / max(elapsed, 1e-9))
            if at_eval:
                eval_loss, se = evaluate(model, data, cfg, device, dtype)
                row = row.model_copy(update={"eval_loss": eval_loss, "eval_loss_se": se})
            metrics.append(row)
            if reporter:
                reporter.on_log(row)
            window_losses.clear()
            window_start, window_tokens_t0 = time.perf_counter(), step
            if time.perf_counter() - last_checkpoint > cfg.loop.checkpoint_seconds and step < steps:
                checkpoint(step)
                last_checkpoint = time.perf_counter()

    status = "diverged" if diverged_step is not None else "complete"
    if status == "complete":
        checkpoint(step)
    trained = [m for m in metrics if m.train_loss is not None and m.step <= step]
    evals = [m for m in metrics if m.eval_loss is not None]
    final_eval = evals[-1] if status == "complete" else None
    tokens = (diverged_step or step) * budget.tokens_per_step
    unseen, unseen_se = (evaluate_unseen_train(model, data, cfg, step, device, dtype) if status == "complete"
                         else (None, None))
    result = RunResult(
        status=status, steps=diverged_step or step, steps_planned=steps, tokens=tokens,
        params_non_embedding=budget.params_non_embedding, params_total=budget.params_total,
        flops=budget.flops * tokens / budget.tokens, flops_6nd=budget.flops_6nd * tokens / budget.tokens,
        vocab_size=data.vocab_size, lr=peak_lr, depth=cfg.model.resolved_depth(),
        unique_tokens=n_rows * cfg.data.seq_len, epochs=epochs(tokens, n_rows * cfg.data.seq_len),
        final_train_loss=trained[-1].train_loss if trained and status == "complete" else None,
        final_eval_loss=final_eval.eval_loss if final_eval else None,
        final_eval_loss_se=final_eval.eval_loss_se if final_eval else None,
        final_unseen_train_loss=unseen, final_unseen_train_loss_se=unseen_se,
        initial_eval_loss=evals[0].eval_loss if evals else None,
        diverged_step=diverged_step, wall_time_s=wall_before + time.perf_counter() - t_wall,
        tokens_per_s=tokens / max(train_seconds, 1e-9), device=str(device), threads=torch.get_num_threads(),
        metrics=metrics,
    )
    save_text(out_dir / RESULT, result.model_dump_json(indent=1))
    if reporter:
        reporter.on_end(result)
    return result
