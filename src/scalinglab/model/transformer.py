"""The NanoDO-style decoder-only transformer of REFERENCE.md, in one file.

Pre-LN blocks without biases, RoPE, per-head QK-LayerNorm, GeLU (or GeGLU) MLP, untied
embeddings, fp32 logits. Shapes are in names where tensors are reshaped (B batch, L length,
D width, H heads, K head dim, F MLP hidden, V vocabulary).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from scalinglab.config import ModelConfig
from scalinglab.model.loss import chunked_cross_entropy, per_token_cross_entropy

LN_EPS = 1e-6  # NanoDO / REFERENCE


class LayerNorm(nn.Module):
    """LayerNorm with a scale and no bias (REFERENCE: no biases anywhere)."""

    def __init__(self, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.weight.shape, self.weight, None, LN_EPS)


def rope_tables(seq_len: int, head_dim: int, device=None, base: float = 10000.0):
    """cos/sin tables (L, K/2) of rotary position embeddings (Su et al. 2021)."""
    inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim)
    angles_LxK2 = torch.outer(torch.arange(seq_len, device=device, dtype=torch.float32), inv_freq)
    return angles_LxK2.cos(), angles_LxK2.sin()


def apply_rope(x_BxHxLxK: torch.Tensor, cos_LxK2: torch.Tensor, sin_LxK2: torch.Tensor) -> torch.Tensor:
    x1, x2 = x_BxHxLxK.float().chunk(2, dim=-1)  # rotate-half convention
    rotated = torch.cat((x1 * cos_LxK2 - x2 * sin_LxK2, x1 * sin_LxK2 + x2 * cos_LxK2), dim=-1)
    return rotated.to(x_BxHxLxK.dtype)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.heads, self.head_dim = cfg.heads, cfg.head_dim
        self.qkv = nn.Linear(cfg.width, 3 * cfg.width, bias=False)
        self.out = nn.Linear(cfg.width, cfg.width, bias=False)
        # Per-head QK-LayerNorm keeps attention logits from growing at large LR (Wortsman et al. 2023).
        self.q_norm = LayerNorm(cfg.head_dim) if cfg.qk_norm else None
        self.k_norm = LayerNorm(cfg.head_dim) if cfg.qk_norm else None

    def forward(self, x_BxLxD: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, length, d = x_BxLxD.shape
        qkv_BxLx3xHxK = self.qkv(x_BxLxD).view(b, length, 3, self.heads, self.head_dim)
        q_BxHxLxK, k_BxHxLxK, v_BxHxLxK = qkv_BxLx3xHxK.permute(2, 0, 3, 1, 4)
        if self.q_norm is not None:
            q_BxHxLxK, k_BxHxLxK = self.q_norm(q_BxHxLxK), self.k_norm(k_BxHxLxK)
        q_BxHxLxK, k_BxHxLxK = apply_rope(q_BxHxLxK, cos, sin), apply_rope(k_BxHxLxK, cos, sin)
        att_BxHxLxK = F.scaled_dot_product_attention(q_BxHxLxK, k_BxHxLxK, v_BxHxLxK, is_causal=True)
        return self.out(att_BxHxLxK.transpose(1, 2).reshape(b, length, d))


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.gated = cfg.mlp == "geglu"
        hidden = cfg.mlp_hidden
        self.up = nn.Linear(cfg.width, 2 * hidden if self.gated else hidden, bias=False)
        self.down = nn.Linear(hidden, cfg.width, bias=False)

    def forward(self, x_BxLxD: torch.Tensor) -> torch.Tensor:
        h_BxLxF = self.up(x_BxLxD)
        if self.gated:  # GeGLU (Shazeer 2020): gelu(gate) * value
            gate_BxLxF, value_BxLxF = h_BxLxF.chunk(2, dim=-1)
            h_BxLxF = F.gelu(gate_BxLxF, approximate="tanh") * value_BxLxF
        else:
            h_BxLxF = F.gelu(h_BxLxF, approximate="tanh")
        return self.down(h_BxLxF)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.attn_norm, self.attn = LayerNorm(cfg.width), Attention(cfg)
        self.mlp_norm, self.mlp = LayerNorm(cfg.width), MLP(cfg)

    def forward(self, x_BxLxD: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x_BxLxD = x_BxLxD + self.attn(self.attn_norm(x_BxLxD), cos, sin)
        return x_BxLxD + self.mlp(self.mlp_norm(x_BxLxD))


class Transformer(nn.Module):
    def __init__(self, cfg: ModelConfig, vocab_size: int):
        super().__init__()
        self.cfg, self.vocab_size = cfg, vocab_size
        self.embed = nn.Embedding(vocab_size, cfg.width)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.resolved_depth()))
        self.final_norm = LayerNorm(cfg.width)
        self.head = None if cfg.tie_embeddings else nn.Linear(cfg.width, vocab_size, bias=False)
        self._rope_cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """REFERENCE init: embeddings N(0, 1/D); other matrices truncated normal, std 1/sqrt(fan_in)."""
        nn.init.normal_(self.embed.weight, std=1.0 / math.sqrt(self.cfg.width))
        for name, p in self.named_parameters():
            if p.ndim == 2 and not name.startswith("embed"):
                std = 1.0 / math.sqrt(p.shape[1])
                nn.init.trunc_normal_(p, std=std, a=-2 * std, b=2 * std)
            elif p.ndim == 1:
                nn.init.ones_(p)

    @property
    def output_weight(self) -> torch.Tensor:
        return self.embed.weight if self.head is None else self.head.weight

    def _rope(self, length: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        key = (length, str(device))
        if key not in self._rope_cache:
            self._rope_cache[key] = rope_tables(length, self.cfg.head_dim, device)
        return self._rope_cache[key]

    def hidden(self, idx_BxL: torch.Tensor) -> torch.Tensor:
        """Final-normed hidden states (B, L, D), before the output head."""
        cos, sin = self._rope(idx_BxL.shape[1], idx_BxL.device)
        x_BxLxD = self.embed(idx_BxL)
        for block in self.blocks:
            x_BxLxD = block(x_BxLxD, cos, sin)
        return self.final_norm(x_BxLxD)

    def forward(self, idx_BxL: torch.Tensor) -> torch.Tensor:
        """fp32 logits (B, L, V). Training uses `loss`, which never materialises them."""
        return (self.hidden(idx_BxL) @ self.output_weight.t()).float()

    def loss(self, idx_BxL: torch.Tensor, targets_BxL: torch.Tensor) -> torch.Tensor:
        h_BxLxD = self.hidden(idx_BxL)
        return chunked_cross_entropy(
            h_BxLxD.flatten(0, 1), self.output_weight, targets_BxL.flatten(), self.cfg.z_loss
        )

    def token_losses(self, idx_BxL: torch.Tensor, targets_BxL: torch.Tensor) -> torch.Tensor:
        """Per-token cross-entropy (B, L) for evaluation."""
        h_BxLxD = self.hidden(idx_BxL)
        return per_token_cross_entropy(h_BxLxD.flatten(0, 1), self.output_weight, targets_BxL.flatten()).view(
            targets_BxL.shape
        )
