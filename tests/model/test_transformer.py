import pytest
import torch
import torch.nn.functional as F

from scalinglab.config import ModelConfig
from scalinglab.model import Transformer, count_params, training_flops_per_token
from scalinglab.model.loss import chunked_cross_entropy

VOCAB = 300


@pytest.mark.parametrize(
    "cfg",
    [
        ModelConfig(width=64, depth=1),
        ModelConfig(width=128, depth=3, mlp="geglu"),
        ModelConfig(width=128, depth="width/64", qk_norm=False, tie_embeddings=True, mlp_ratio=6),
    ],
    ids=["base", "geglu", "tied-noqk-wide"],
)
def test_counts_match_the_built_model(cfg):
    model = Transformer(cfg, VOCAB)
    counts = count_params(cfg, VOCAB)
    assert counts.total == sum(p.numel() for p in model.parameters())
    embedding = model.embed.weight.numel() + (0 if model.head is None else model.head.weight.numel())
    assert counts.embedding == embedding
    assert counts.non_embedding == counts.total - embedding


def test_non_embedding_count_is_about_12_L_D_squared():
    cfg = ModelConfig(width=512, depth=8)
    n = count_params(cfg, VOCAB).non_embedding
    assert n == pytest.approx(12 * 8 * 512**2, rel=0.01)


def test_flops_per_token_convention():
    cfg = ModelConfig(width=256, depth=6)
    c = count_params(cfg, 4096)
    expected = 6 * (c.non_embedding + 4096 * 256) + 12 * 6 * 256 * 128
    assert training_flops_per_token(cfg, 4096, 128) == expected


def test_depth_rule_resolves_with_width():
    assert ModelConfig(width=256, depth="width/64").resolved_depth() == 4


def test_logits_shape_and_dtype():
    model = Transformer(ModelConfig(width=64, depth=2), VOCAB)
    idx = torch.randint(0, VOCAB, (3, 17))
    logits = model(idx)
    assert logits.shape == (3, 17, VOCAB) and logits.dtype == torch.float32


def test_causality_later_tokens_cannot_change_earlier_logits():
    torch.manual_seed(0)
    model = Transformer(ModelConfig(width=64, depth=2), VOCAB).eval()
    idx = torch.randint(0, VOCAB, (1, 12))
    changed = idx.clone()
    changed[0, 7:] = (changed[0, 7:] + 1) % VOCAB
    a, b = model(idx), model(changed)
    torch.testing.assert_close(a[:, :7], b[:, :7])
    assert not torch.allclose(a[:, 7:], b[:, 7:])


def test_init_scales():
    cfg = ModelConfig(width=256, depth=1)
    model = Transformer(cfg, 4096)
    assert model.embed.weight.std().item() == pytest.approx(256**-0.5, rel=0.05)
    w = model.blocks[0].mlp.down.weight  # fan_in = F = 1024; truncated at 2 std shrinks the std ~12%
    assert w.abs().max().item() <= 2 * 1024**-0.5 + 1e-6
    assert 0.8 * 1024**-0.5 < w.std().item() < 1024**-0.5


@pytest.mark.parametrize("z_loss", [0.0, 1e-4])
def test_chunked_loss_and_gradients_match_plain_cross_entropy(z_loss, monkeypatch):
    monkeypatch.setattr("scalinglab.model.loss.CHUNK_ROWS", 100)  # several chunks, one ragged
    torch.manual_seed(0)
    h = torch.randn(450, 64, requires_grad=True)
    w = torch.randn(500, 64, requires_grad=True)
    t = torch.randint(0, 500, (450,))
    fused = chunked_cross_entropy(h, w, t, z_loss)
    (fused * 3).backward()
    gh, gw = h.grad.clone(), w.grad.clone()
    h.grad = w.grad = None
    logits = h @ w.t()
    plain = F.cross_entropy(logits, t) + z_loss * torch.logsumexp(logits, -1).pow(2).mean()
    (plain * 3).backward()
    torch.testing.assert_close(fused, plain, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(gh, h.grad, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(gw, w.grad, atol=1e-5, rtol=1e-5)
