import math

import pytest
import torch

from scalinglab.config import OptimConfig, ScheduleConfig
from scalinglab.train.optim import build_optimizer, prepare_gradients
from scalinglab.train.schedules import lr_multiplier


def _one_step(mode: str, weight_decay: float, l2: float, lr: float, peak: float) -> torch.Tensor:
    """One AdamW step on a matrix whose loss gradient is zero, so only decay / L2 move it."""
    model = torch.nn.Linear(4, 3, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.linspace(-1, 1, 12).view(3, 4))
    cfg = OptimConfig(lr=peak, weight_decay=weight_decay, decay_mode=mode, l2=l2, grad_clip=0, eps=1e-20)
    opt = build_optimizer(model, cfg, peak)
    for group in opt.param_groups:
        group["lr"] = lr
    model.weight.grad = torch.zeros_like(model.weight)
    prepare_gradients(model, cfg)
    opt.step()
    return model.weight.detach().clone()


def test_three_decay_modes_give_distinct_and_correct_updates():
    theta0 = torch.linspace(-1, 1, 12).view(3, 4)
    peak, lr, lam = 0.01, 0.005, 0.1  # half-way down a schedule: s_t = 0.5
    coupled = _one_step("coupled", lam, 0.0, lr, peak)
    independent = _one_step("independent", lam, 0.0, lr, peak)
    l2 = _one_step("none", 0.0, lam, lr, peak)
    # coupled (optax adamw): decay scaled by the scheduled LR
    torch.testing.assert_close(coupled, theta0 * (1 - lr * lam))
    # independent (Wortsman): decay scaled by the schedule's multiplier only
    torch.testing.assert_close(independent, theta0 * (1 - (lr / peak) * lam))
    # explicit L2: gradient l2·θ goes through Adam's normalisation, first step moves by lr·sign(θ)
    torch.testing.assert_close(l2, theta0 - lr * torch.sign(theta0))
    assert not torch.allclose(coupled, independent) and not torch.allclose(coupled, l2)


def test_layernorm_scales_are_not_decayed():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4, bias=False), torch.nn.LayerNorm(4, bias=False))
    opt = build_optimizer(model, OptimConfig(weight_decay=0.5), 0.01)
    decays = {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    assert decays[id(model[0].weight)] == 0.5 and decays[id(model[1].weight)] == 0.0


def test_gradient_normalization_gives_unit_norm():
    model = torch.nn.Linear(4, 4, bias=False)
    model.weight.grad = torch.full((4, 4), 3.0)
    norm = prepare_gradients(model, OptimConfig(grad_normalize=True))
    assert float(norm) == pytest.approx(12.0)
    assert model.weight.grad.norm().item() == pytest.approx(1.0, rel=1e-6)


def test_clipping_caps_global_norm():
    model = torch.nn.Linear(4, 4, bias=False)
    model.weight.grad = torch.full((4, 4), 3.0)
    prepare_gradients(model, OptimConfig(grad_clip=1.0))
    assert model.weight.grad.norm().item() == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("kind", ["cosine", "constant", "linear", "rsqrt", "wsd"])
def test_schedules_warm_up_linearly_and_peak_at_one(kind):
    cfg = ScheduleConfig(kind=kind, warmup=10, final_fraction=0.1)
    values = [lr_multiplier(s, 100, cfg) for s in range(100)]
    assert values[:10] == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert max(values) == pytest.approx(1.0)
    assert all(v > 0 for v in values)


def test_schedule_shapes():
    total = 100
    cos = ScheduleConfig(kind="cosine", warmup=0.1, final_fraction=0.1)
    assert lr_multiplier(total - 1, total, cos) == pytest.approx(0.1)
    assert lr_multiplier(55, total, cos) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 46 / 90)))
    lin = ScheduleConfig(kind="linear", warmup=0, final_fraction=0.0)
    assert lr_multiplier(49, total, lin) == pytest.approx(0.5)
    wsd = ScheduleConfig(kind="wsd", warmup=0.1, decay_fraction=0.2, final_fraction=0.0)
    assert lr_multiplier(79, total, wsd) == 1.0 and lr_multiplier(total - 1, total, wsd) == pytest.approx(0.0)
    rs = ScheduleConfig(kind="rsqrt", warmup=4)
    assert lr_multiplier(15, total, rs) == pytest.approx(0.5)
    assert lr_multiplier(50, total, ScheduleConfig(kind="constant", warmup=0)) == 1.0
