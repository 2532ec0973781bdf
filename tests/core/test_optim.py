"""Optimizer and schedule settings: what a project's training section turns into."""
import math
import re

import pytest
import torch

from designer.core.optim import OPTIMIZERS, ConfigError, make_optimizer, make_schedule


def params():
    return [(1.0, [torch.nn.Parameter(torch.zeros(3))])]


@pytest.mark.parametrize("kind", OPTIMIZERS)
def test_every_optimizer_builds_with_its_defaults_and_takes_a_step(kind):
    weight = torch.nn.Parameter(torch.ones(3))
    optimizer = make_optimizer([(1.0, [weight])], {"type": kind})
    assert optimizer.param_groups[0]["lr"] == OPTIMIZERS[kind][2]["lr"]
    (weight ** 2).sum().backward()
    optimizer.step()
    assert (weight < 1).all()  # a step down the gradient of x²


@pytest.mark.parametrize("config, torch_class, expected", [
    ({"type": "Adam", "lr": 0.01, "beta1": 0.8, "beta2": 0.9}, torch.optim.Adam,
     {"lr": 0.01, "betas": (0.8, 0.9)}),
    ({"type": "AdamW", "weight_decay": 0.05}, torch.optim.AdamW, {"weight_decay": 0.05}),
    ({"type": "Momentum", "momentum": 0.5}, torch.optim.SGD, {"momentum": 0.5, "nesterov": False}),
    ({"type": "Nesterov"}, torch.optim.SGD, {"momentum": 0.9, "nesterov": True}),
    ({"type": "RMSprop", "rho": 0.9}, torch.optim.RMSprop, {"alpha": 0.9}),
    ({"type": "Adadelta", "rho": 0.8}, torch.optim.Adadelta, {"rho": 0.8, "lr": 1.0}),
])
def test_settings_reach_torch(config, torch_class, expected):
    optimizer = make_optimizer(params(), config)
    assert type(optimizer) is torch_class
    group = optimizer.param_groups[0]
    for key, value in expected.items():
        assert group[key] == value


@pytest.mark.parametrize("config, message", [
    ({"type": "Adamax"}, "training.optimizers[0].solver.type: 'Adamax' is not one of Adam, AdamW, SGD, "
                         "Momentum, Nesterov, RMSprop, Adagrad, Adadelta"),
    ({"type": "Adam", "betas": [0.9, 0.99]},
     "training.optimizers[0].solver (Adam): unknown setting 'betas' (its settings are lr, beta1, beta2, "
     "eps, weight_decay)"),
    ({"type": "SGD", "momentum": 0.9},
     "training.optimizers[0].solver (SGD): unknown setting 'momentum' (its settings are lr, weight_decay)"),
    ({"type": "Adam", "lr": 0}, "training.optimizers[0].solver (Adam).lr: must be more than 0, not 0"),
    ({"type": "Adam", "lr": "fast"}, "training.optimizers[0].solver (Adam).lr: must be a number, not 'fast'"),
    ({"type": "Adam", "lr": True}, "training.optimizers[0].solver (Adam).lr: must be a number, not True"),
    ({"type": "Momentum", "momentum": 1.5},
     "training.optimizers[0].solver (Momentum).momentum: must be at least 0 and at most 1, not 1.5"),
])
def test_bad_optimizer_settings_name_the_field(config, message):
    with pytest.raises(ConfigError) as error:
        make_optimizer(params(), config)
    assert str(error.value) == message


def test_a_network_without_weights_cannot_be_optimized():
    with pytest.raises(ConfigError, match="the network has no trainable parameters"):
        make_optimizer([], {"type": "Adam"})


def test_each_group_learns_at_its_factor_of_the_rate():
    fast, slow = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    optimizer = make_optimizer([(2.0, [fast]), (0.5, [slow])], {"type": "SGD", "lr": 0.1})
    assert [(g["lr"], g["lr_multiplier"]) for g in optimizer.param_groups] == [(0.2, 2.0),
                                                                               (0.05, 0.5)]
    ((fast ** 2).sum() + (slow ** 2).sum()).backward()
    optimizer.step()
    torch.testing.assert_close(fast.detach(), torch.full((2,), 1 - 0.2 * 2))
    torch.testing.assert_close(slow.detach(), torch.full((2,), 1 - 0.05 * 2))


def test_schedules():
    def lr(config, epoch, epochs=10):
        return make_schedule(config, 0.1, epochs).lr(epoch)

    assert lr({"type": "constant"}, 7.5) == 0.1
    assert lr({"type": "exponential", "gamma": 0.5}, 2) == pytest.approx(0.025)
    assert lr({"type": "exponential", "gamma": 0.5}, 1.5) == pytest.approx(0.1 * 0.5 ** 1.5)
    step = {"type": "step", "step": 3, "gamma": 0.1}
    assert [lr(step, e) for e in (0, 2.99, 3, 6)] == pytest.approx([0.1, 0.1, 0.01, 0.001])
    cosine = {"type": "cosine", "min_lr": 0.02}
    assert [lr(cosine, e) for e in (0, 5, 10)] == pytest.approx([0.1, 0.06, 0.02])
    assert lr({"type": "polynomial", "power": 2}, 5) == pytest.approx(0.1 * 0.25)
    warm = {"type": "cosine", "warmup": 2}
    assert [lr(warm, e) for e in (0, 1, 2)] == pytest.approx([0.001, 0.05, 0.1])
    assert lr(warm, 6) == pytest.approx(0.1 * (1 + math.cos(math.pi / 2)) / 2)  # half way


@pytest.mark.parametrize("config, message", [
    ({"type": "linear"}, "training.optimizers[0].schedule.type: 'linear' is not one of constant, exponential"),
    ({"type": "step", "gamma": 2}, "training.optimizers[0].schedule (step).gamma: must be more than 0 and at "
                                   "most 1, not 2"),
    ({"type": "cosine", "warmup": 10}, "training.optimizers[0].schedule (cosine).warmup: 10 epochs of warm-up "
                                       "leave none of the 10 epochs"),
    ({"type": "cosine", "min_lr": 1}, "training.optimizers[0].schedule (cosine).min_lr: 1 is above the "
                                      "optimizer's lr 0.1"),
    ({"type": "constant", "gamma": 0.5}, "training.optimizers[0].schedule (constant): unknown setting 'gamma'"),
])
def test_bad_schedule_settings_name_the_field(config, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        make_schedule(config, 0.1, 10)
