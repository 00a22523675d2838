"""AdamW with the three things REFERENCE.md keeps apart: coupled decay, independent decay, explicit L2.

All three are built on torch's AdamW, whose decay step is θ ← θ − lr_t·wd·θ:
- coupled (optax `adamw`, the paper's default): wd = λ, so the decay follows the scheduled LR;
- independent (Wortsman et al. 2023): wd = λ / lr_peak, so lr_t·wd = s_t·λ — the decay follows the
  schedule's shape but not the size of the peak LR;
- explicit L2: (l2/2)·‖θ‖² in the loss, i.e. l2·θ added to the gradient before Adam's
  preconditioner (and before clipping), which is what makes it differ from decay.
Decay and L2 apply to matrices (embeddings, projections), not to LayerNorm scales.
"""

from __future__ import annotations

import torch

from scalinglab.config import OptimConfig


def _split(model: torch.nn.Module) -> tuple[list[torch.nn.Parameter], list[torch.nn.Parameter]]:
    matrices = [p for p in model.parameters() if p.ndim >= 2]
    vectors = [p for p in model.parameters() if p.ndim < 2]
    return matrices, vectors


def build_optimizer(model: torch.nn.Module, cfg: OptimConfig, peak_lr: float) -> torch.optim.AdamW:
    matrices, vectors = _split(model)
    if cfg.decay_mode == "coupled":
        decay = cfg.weight_decay
    elif cfg.decay_mode == "independent":
        decay = cfg.weight_decay / peak_lr
    else:
        decay = 0.0
    on_cuda = matrices[0].is_cuda
    return torch.optim.AdamW(
        [{"params": matrices, "weight_decay": decay}, {"params": vectors, "weight_decay": 0.0}],
        lr=peak_lr,
        betas=(cfg.beta1, cfg.beta2),
        eps=cfg.eps,
        fused=on_cuda,
        foreach=None if on_cuda else True,
    )


def prepare_gradients(model: torch.nn.Module, cfg: OptimConfig) -> float:
    """Add the explicit L2 term, normalize or clip by global norm; returns the pre-clip gradient norm."""
    matrices, _ = _split(model)
    if cfg.l2:
        torch._foreach_add_([p.grad for p in matrices], matrices, alpha=cfg.l2)
    params = [p for p in model.parameters() if p.grad is not None]
    if cfg.grad_normalize:
        norm = torch.nn.utils.get_total_norm([p.grad for p in params])
        torch._foreach_div_([p.grad for p in params], norm + 1e-12)
        return norm
    if cfg.grad_clip > 0:
        return torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
    return torch.nn.utils.get_total_norm([p.grad for p in params])
