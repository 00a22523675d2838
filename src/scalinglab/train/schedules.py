"""Learning-rate schedules as multipliers of the peak LR: a pure function of the step."""

from __future__ import annotations

import math

from scalinglab.config import ScheduleConfig


def warmup_steps(cfg: ScheduleConfig, total_steps: int) -> int:
    return int(round(cfg.warmup * total_steps)) if cfg.warmup < 1 else int(cfg.warmup)


def lr_multiplier(step: int, total_steps: int, cfg: ScheduleConfig) -> float:
    """Multiplier in (0, 1] of the peak LR at optimizer step `step` (0-based)."""
    warm = min(warmup_steps(cfg, total_steps), total_steps)
    if step < warm:
        return (step + 1) / warm  # linear warmup, never exactly 0 so step 0 still learns
    if cfg.kind == "constant":
        return 1.0
    if cfg.kind == "rsqrt":
        # Inverse square root (Vaswani et al. 2017), continuous with the end of warmup.
        return math.sqrt(max(warm, 1) / (step + 1))
    floor = cfg.final_fraction
    if cfg.kind == "wsd":
        # Warmup-stable-decay (Hu et al. 2024, MiniCPM): flat, then a linear cool-down at the end.
        decay_start = total_steps - max(1, int(round(cfg.decay_fraction * total_steps)))
        if step < decay_start:
            return 1.0
        progress = (step - decay_start + 1) / max(1, total_steps - decay_start)
        return 1.0 - (1.0 - floor) * progress
    progress = (step - warm + 1) / max(1, total_steps - warm)
    if cfg.kind == "linear":
        return 1.0 - (1.0 - floor) * progress
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))  # cosine (NanoDO)
