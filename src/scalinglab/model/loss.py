"""Output projection + cross-entropy, computed chunk by chunk.

The plain way materialises fp32 logits of shape (tokens, vocab) and their gradient: at width 64
and a 4,096 vocabulary that is 64 MB each per step and ~38% of a CPU step (PERFORMANCE.md).
Here the loss and both gradients are formed one chunk of rows at a time in the forward pass
(gradient of the mean loss w.r.t. logits = (softmax − one_hot)/n, plus the z-loss term), so only
a chunk of logits ever exists, and backward is just a scale by the incoming gradient.
"""

from __future__ import annotations

import torch

# Rows per chunk: on CPU, chunk·V fp32 values near 2 MB stay in cache across the five sweeps
# below (measured at width 64, V 4,096: 128 rows ≈ 1.3× faster than 1,024); on a GPU, large chunks
# keep the matmuls big. None picks by device; tests set a number.
CHUNK_ROWS: int | None = None


def _chunk_rows(device: torch.device, vocab: int) -> int:
    if CHUNK_ROWS is not None:
        return CHUNK_ROWS
    if device.type == "cuda":
        return 8192
    return min(1024, max(64, (1 << 19) // vocab))


def _logits(h_chunk: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    # fp32 logits (REFERENCE: output logits in fp32), whatever precision the matmul ran in.
    return (h_chunk @ weight.t()).float()


class _ChunkedCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h_NxD, weight_VxD, targets_N, z_loss: float, compute_dtype: torch.dtype):
        n = h_NxD.shape[0]
        h = h_NxD.to(compute_dtype)
        w = weight_VxD.to(compute_dtype)
        needs_grad = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        grad_h = torch.empty_like(h) if needs_grad else None
        grad_w = torch.zeros(w.shape, dtype=torch.float32, device=w.device) if needs_grad else None
        total = torch.zeros((), dtype=torch.float32, device=h.device)
        rows = _chunk_rows(h.device, w.shape[0])
        for start in range(0, n, rows):
            stop = min(start + rows, n)
            logits_CxV = _logits(h[start:stop], w)
            t_C1 = targets_N[start:stop, None]
            target_logit_C1 = logits_CxV.gather(1, t_C1)
            # logsumexp by hand, in place, so the chunk is swept as few times as possible:
            # after these two lines logits_CxV holds exp(logit − max), the unnormalised softmax.
            max_C1 = logits_CxV.amax(dim=1, keepdim=True)
            logits_CxV.sub_(max_C1).exp_()
            sum_C1 = logits_CxV.sum(dim=1, keepdim=True)
            lse_C1 = max_C1 + sum_C1.log()
            total += (lse_C1 - target_logit_C1).sum()
            if z_loss:
                total += z_loss * (lse_C1 * lse_C1).sum()
            if needs_grad:
                # d/dlogits of [lse − logit_t + z·lse²]/n = softmax·(1 + 2z·lse)/n − one_hot/n
                row_scale_C1 = (1.0 + 2.0 * z_loss * lse_C1) / (sum_C1 * n) if z_loss else 1.0 / (sum_C1 * n)
                grad_CxV = logits_CxV.mul_(row_scale_C1)
                grad_CxV.scatter_add_(1, t_C1, torch.full_like(target_logit_C1, -1.0 / n))
                g = grad_CxV.to(compute_dtype)
                grad_h[start:stop] = g @ w
                grad_w.addmm_(g.t().float() if compute_dtype != torch.float32 else g.t(), h[start:stop].float())
        if needs_grad:
            ctx.save_for_backward(grad_h, grad_w)
            ctx.dtypes = (h_NxD.dtype, weight_VxD.dtype)
        return total / n

    @staticmethod
    def backward(ctx, grad_out):
        grad_h, grad_w = ctx.saved_tensors
        h_dtype, w_dtype = ctx.dtypes
        return (grad_h * grad_out).to(h_dtype), (grad_w * grad_out).to(w_dtype), None, None, None


def chunked_cross_entropy(
    h_NxD: torch.Tensor, weight_VxD: torch.Tensor, targets_N: torch.Tensor, z_loss: float = 0.0
) -> torch.Tensor:
    """Mean next-token cross-entropy (+ z_loss·mean(log²Z)) of logits h·Wᵀ, without materialising them."""
    compute_dtype = torch.float32
    if h_NxD.is_cuda and torch.is_autocast_enabled("cuda"):
        compute_dtype = torch.get_autocast_dtype("cuda")
    with torch.autocast(h_NxD.device.type, enabled=False):
        return _ChunkedCrossEntropy.apply(h_NxD, weight_VxD, targets_N, float(z_loss), compute_dtype)


@torch.no_grad()
def per_token_cross_entropy(h_NxD: torch.Tensor, weight_VxD: torch.Tensor, targets_N: torch.Tensor) -> torch.Tensor:
    """Per-token losses for evaluation (no z-loss), chunked the same way."""
    out = torch.empty(h_NxD.shape[0], dtype=torch.float32, device=h_NxD.device)
    w = weight_VxD.to(h_NxD.dtype)
    rows = _chunk_rows(h_NxD.device, w.shape[0])
    for start in range(0, h_NxD.shape[0], rows):
        stop = min(start + rows, h_NxD.shape[0])
        logits_CxV = _logits(h_NxD[start:stop], w)
        out[start:stop] = torch.nn.functional.cross_entropy(logits_CxV, targets_N[start:stop], reduction="none")
    return out
