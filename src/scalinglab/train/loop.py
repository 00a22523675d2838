"""One training run, start to finish: set up, start or resume, train, evaluate, record the result.

Knows nothing of studies. The order of training rows is a pure function of (seed, step), and all
other state (weights, Adam moments, step, curves) is the TrainState its checkpoint holds, so a
resumed run takes exactly the steps an uninterrupted one would. The budget (plan.budget) says how
many steps and when to evaluate; train_step (train.step) is the step a throughput probe times too.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from scalinglab.config import ConfigError, RunConfig
from scalinglab.config.paths import check_folder, make_folder
from scalinglab.data import TokenData, batch_rows, get_batch, load_tokens, row_indices
from scalinglab.data.epochs import epochs
from scalinglab.model import Transformer
from scalinglab.plan.budget import Budget, resolve_budget
from scalinglab.train.checkpoint import damage, load_state, save_state, save_text
from scalinglab.train.distributed import SOLO, World, check_world, launched_world, process_group, training_loss
from scalinglab.train.evaluate import eval_loss, evaluate_unseen_train
from scalinglab.train.optim import build_optimizer
from scalinglab.train.result import CONFIG, RESULT, EditedResult, MetricRow, RunResult, read_result, result_json
from scalinglab.train.schedules import lr_multiplier
from scalinglab.train.state import TrainState, other_world_size
from scalinglab.train.step import train_step

log = logging.getLogger(__name__)


class Reporter(Protocol):
    """Receives progress; the CLI draws it, studies ignore it. All methods are optional no-ops."""

    def on_start(self, total_steps: int, start_step: int, budget: Budget) -> None: ...
    def on_log(self, row: MetricRow) -> None: ...
    def on_checkpoint(self, step: int) -> None: ...
    def on_end(self, result: RunResult) -> None: ...


def resolve_device(cfg: RunConfig, world: World = SOLO) -> tuple[torch.device, torch.dtype | None]:
    """The device (a rank's own GPU in a launched world) and the autocast dtype (None: plain fp32)."""
    want = cfg.loop.device
    if want == "cuda" and not torch.cuda.is_available():
        raise ConfigError("loop.device: 'cuda' requested but no CUDA device is available")
    if not (want == "cuda" or (want == "auto" and torch.cuda.is_available())):
        device = torch.device("cpu")
    else:  # one GPU per rank, by its place on this machine
        device = torch.device("cuda", world.local_rank) if world.launched else torch.device("cuda")
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
        raise ConfigError(f"{out_dir}: holds a finished run of a different config; choose another output folder"
                          if (other := other_world_size(written, cfg)) is None else f"{out_dir}: {other}")
    return stored


def _written_config(out_dir: Path) -> str | None:
    try:
        return (out_dir / CONFIG).read_text()
    except (OSError, UnicodeDecodeError):
        return None


@dataclass(frozen=True)
class Setup:
    """What a run trains with: its data, budget, device, peak LR and place among the run's processes."""

    data: TokenData
    budget: Budget
    device: torch.device
    dtype: torch.dtype | None
    peak_lr: float
    n_rows: int
    """Rows of seq_len in the train split."""
    world: World


def _setup(cfg: RunConfig, world: World) -> Setup:
    data = load_tokens(cfg.data)  # ranks that find no cache build it once: a file lock
    n_rows = batch_rows(len(data.train), cfg.data.seq_len)  # ≥ 1: load_tokens and data.max_train_tokens see to it
    device, dtype = resolve_device(cfg, world)
    return Setup(data, resolve_budget(cfg, data.vocab_size), device, dtype, cfg.optim.resolved_lr(cfg.model.width),
                 n_rows, world)


def _start(cfg: RunConfig, out_dir: Path, run: Setup) -> TrainState:
    """The state to go on from: the newest good checkpoint, or a new model evaluated at step 0."""
    def build() -> tuple[Transformer, torch.optim.Optimizer]:
        model = build_model(cfg, run.data.vocab_size, run.device)
        return model, build_optimizer(model, cfg.optim, run.peak_lr)

    # Every rank reads the same files: no rank writes until all have resumed (a step needs them all).
    state = load_state(out_dir, cfg, build)
    run.world.agree(state.step if state else -1, "checkpoint to resume from")
    if state is not None:
        # config.json lost or damaged: the checkpoint vouches for the run
        if run.world.main and _written_config(out_dir) != cfg.model_dump_json():
            save_text(out_dir / CONFIG, cfg.model_dump_json())
        return state
    state = TrainState(*build())
    if run.world.main:
        make_folder(out_dir)
        save_text(out_dir / CONFIG, cfg.model_dump_json())
    init_eval, init_se = eval_loss(state.model, run.data, cfg, run.device, run.dtype, run.world)
    state.metrics.append(MetricRow(step=0, tokens=0, eval_loss=init_eval, eval_loss_se=init_se))
    return state


class LogWindow:
    """The steps since the last log line: their losses stay on the device until the window closes
    (one host sync per window, not per step; in a data-parallel run, one mean over the ranks), with
    the time and tokens they took."""

    def __init__(self, world: World):
        self.world = world
        self.losses: list[torch.Tensor] = []
        self.start = time.perf_counter()

    def close(self) -> tuple[np.ndarray, float, int]:
        """(losses, seconds, steps) of the window; the next one starts now."""
        losses = self.world.mean(torch.stack(self.losses).float()).cpu().numpy()
        return losses, time.perf_counter() - self.start, len(self.losses)


def _diverged_at(losses: np.ndarray, first_loss: float, factor: float, step: int) -> int | None:
    """The first step of the window whose loss is not finite or above factor × the first loss."""
    bad = ~np.isfinite(losses) | (losses > factor * first_loss)
    return step - len(losses) + int(np.argmax(bad)) + 1 if bad.any() else None


def _train(cfg: RunConfig, out_dir: Path, run: Setup, state: TrainState, reporter: Reporter | None,
           t_session: float) -> int | None:
    """Train from state.step to the budget's last step (or divergence); returns the diverged step.

    t_session: when this session started (perf_counter); a checkpoint adds the wall time since."""
    budget, model, optimizer, world = run.budget, state.model, state.optimizer, run.world
    loss_fn = training_loss(model, world, run.device)
    log_every = max(1, min(cfg.loop.log_every, budget.steps))
    last_checkpoint = time.perf_counter()
    window = LogWindow(world)
    while state.step < budget.steps:
        t0 = time.perf_counter()
        lr = run.peak_lr * lr_multiplier(state.step, budget.steps, cfg.schedule)
        for group in optimizer.param_groups:
            group["lr"] = lr
        rows = world.share(row_indices(run.n_rows, state.step, cfg.budget.batch_size, cfg.seed))
        x, y = get_batch(run.data.train, rows, cfg.data.seq_len)
        loss, grad_norm = train_step(model, optimizer, torch.from_numpy(x).to(run.device, non_blocking=True),
                                     torch.from_numpy(y).to(run.device, non_blocking=True), cfg, run.device, run.dtype,
                                     loss_fn)
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
            held_out, se = eval_loss(model, run.data, cfg, run.device, run.dtype, world)
            row = row.model_copy(update={"eval_loss": held_out, "eval_loss_se": se})
        state.metrics.append(row)
        if reporter:
            reporter.on_log(row)
        window = LogWindow(world)
        # Rank 0 alone writes, on its own clock: the other ranks hold the same state and go on.
        if world.main and time.perf_counter() - last_checkpoint > cfg.loop.checkpoint_seconds and step < budget.steps:
            save_state(out_dir, state, cfg, time.perf_counter() - t_session)
            last_checkpoint = time.perf_counter()
            if reporter:
                reporter.on_checkpoint(step)
    if world.main:
        save_state(out_dir, state, cfg, time.perf_counter() - t_session)
    return None


def _result(cfg: RunConfig, run: Setup, state: TrainState, diverged_step: int | None, wall_s: float) -> RunResult:
    budget, metrics, step = run.budget, state.metrics, state.step
    status = "diverged" if diverged_step is not None else "complete"
    trained = [m for m in metrics if m.train_loss is not None and m.step <= step]
    evals = [m for m in metrics if m.eval_loss is not None]
    final_eval = evals[-1] if status == "complete" else None
    tokens = (diverged_step or step) * budget.tokens_per_step
    unseen, unseen_se = (evaluate_unseen_train(state.model, run.data, cfg, step, run.device, run.dtype, run.world)
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
        devices=run.world.size, metrics=metrics,
    )


def train_run(cfg: RunConfig, out_dir: str | Path, *, reporter: Reporter | None = None) -> RunResult:
    """Train one run into `out_dir` (resuming from its checkpoint if there is one) and return its result.

    A run of loop.devices > 1 is one of that many processes started by torchrun, each calling this
    (train.distributed); each returns the run's result, rank 0 writes it and tells `reporter`."""
    out_dir = check_folder(out_dir)  # a file in the way is one line, before any work
    world = launched_world()
    check_world(cfg, world)
    if (done := _finished_result(out_dir, cfg)) is not None:
        return done
    reporter = reporter if world.main else None
    torch.set_num_threads(cfg.resolved_threads())  # part of the run's identity (config.default_threads)
    run = _setup(cfg, world)
    with process_group(world, run.device):
        state = _start(cfg, out_dir, run)
        t_session = time.perf_counter()  # the wall time this session adds, in checkpoints and the result
        if reporter:
            reporter.on_start(run.budget.steps, state.step, run.budget)
        diverged_step = _train(cfg, out_dir, run, state, reporter, t_session)
        result = _result(cfg, run, state, diverged_step, time.perf_counter() - t_session)
    if world.main:
        save_text(out_dir / RESULT, result_json(result))
    if reporter:
        reporter.on_end(result)
    return result
