"""Learning-rate warm-up: ``LinearWarmup`` against PyTorch's ``LinearLR`` + ``SequentialLR``, the
``warmup:EPOCHS`` schedule syntax, saved state, and the engine stepping it."""

from __future__ import annotations

import numpy as np
import pytest

import ffnn
from ffnn import catalog, losses, mlp, optim
from ffnn.errors import ConfigError
from ffnn.parameter import Parameter
from ffnn.recipe import Recipe
from ffnn.schedules import CosineLR, LinearWarmup, ReduceLROnPlateau, StepLR
from reference import torch_lrs

torch = pytest.importorskip("torch")
lr_scheduler = torch.optim.lr_scheduler


def _opt(lr=0.1):
    return optim.SGD([Parameter(np.zeros(1))], lr=lr, momentum=0.9)


def _torch_opt(lr=0.1):
    return torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr, momentum=0.9)


def _ours(opt, schedule, epochs, metrics=None):
    return [opt.lr] + [schedule.step(None if metrics is None else metrics[t]) for t in range(epochs)]


@pytest.mark.requires_torch
@pytest.mark.parametrize("warm, start_factor", [(3, None), (1, 0.25), (5, 0.01)])
def test_warmup_then_cosine_matches_torch_sequential_lr(warm, start_factor):
    total = 12
    s = 1.0 / (warm + 1) if start_factor is None else start_factor
    opt = _opt()
    ours = _ours(opt, LinearWarmup(opt, warm, start_factor, then=CosineLR(opt, t_max=total - warm)), total)
    t_opt = _torch_opt()
    theirs = torch_lrs(t_opt, lr_scheduler.SequentialLR(
        t_opt, [lr_scheduler.LinearLR(t_opt, start_factor=s, total_iters=warm),
                lr_scheduler.CosineAnnealingLR(t_opt, T_max=total - warm)], milestones=[warm]), total)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)


@pytest.mark.requires_torch
def test_warmup_then_step_and_warmup_alone_match_torch():
    opt = _opt()
    ours = _ours(opt, LinearWarmup(opt, 2, 0.1, then=StepLR(opt, step_size=3, gamma=0.5)), 10)
    t_opt = _torch_opt()
    theirs = torch_lrs(t_opt, lr_scheduler.SequentialLR(
        t_opt, [lr_scheduler.LinearLR(t_opt, start_factor=0.1, total_iters=2),
                lr_scheduler.StepLR(t_opt, step_size=3, gamma=0.5)], milestones=[2]), 10)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    opt = _opt()
    ours = _ours(opt, LinearWarmup(opt, 4, 0.2), 7)
    t_opt = _torch_opt()
    theirs = torch_lrs(t_opt, lr_scheduler.LinearLR(t_opt, start_factor=0.2, total_iters=4), 7)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_warmup_then_plateau_reduces_only_after_the_warmup():
    opt = _opt(1.0)
    schedule = LinearWarmup(opt, 2, 0.5, then=ReduceLROnPlateau(opt, factor=0.5, patience=0))
    assert _ours(opt, schedule, 5, metrics=[1.0, 1.0, 1.0, 1.0, 1.0]) == [0.5, 0.75, 1.0, 1.0, 0.5, 0.25]


def test_the_schedule_syntax_wraps_the_lr_schedule_and_shortens_the_cosine():
    opt = _opt()
    made = catalog.schedules("warmup:2+cosine+momentum:0.5:0.9:1", opt, 10)
    assert [type(s).__name__ for s in made] == ["LinearWarmup", "MomentumSchedule"]
    assert made[0].then.t_max == 8 and made[0].start_factor == pytest.approx(1 / 3)
    assert opt.lr == pytest.approx(0.1 / 3)
    alone = catalog.schedules("warmup:3:0.5", _opt(), 10)
    assert len(alone) == 1 and alone[0].then is None and alone[0].start_factor == 0.5
    assert catalog.parse_schedule("warmup:3:0.5") == [("warmup", {"epochs": 3, "start_factor": 0.5})]


@pytest.mark.parametrize("spec, needle", [
    ("warmup:2+warmup:3+cosine", "at most one warmup"), ("warmup:2+step:2+cosine", "one learning-rate schedule"),
    ("warmup:0", "epochs"), ("warmup:2:0", "start_factor"), ("warmup", "EPOCHS"),
])
def test_bad_warmups_are_refused(spec, needle):
    with pytest.raises(ConfigError, match=needle):
        Recipe(schedule=spec, epochs=10)


def test_then_must_be_an_lr_schedule_of_the_same_optimizer():
    opt = _opt()
    with pytest.raises(ConfigError, match="same optimizer"):
        LinearWarmup(opt, 2, then=CosineLR(_opt(), t_max=3))


def test_state_dict_round_trip_continues_identically():
    opt = _opt()
    schedule = LinearWarmup(opt, 3, then=CosineLR(opt, t_max=5))
    for _ in range(4):
        schedule.step()
    state = schedule.state_dict()
    rest = [schedule.step() for _ in range(4)]
    opt2 = _opt()
    again = LinearWarmup(opt2, 3, then=CosineLR(opt2, t_max=5))
    again.load_state_dict(state)
    assert [again.step() for _ in range(4)] == rest
    with pytest.raises(ConfigError, match="does not match"):
        LinearWarmup(_opt(), 3).load_state_dict(state)


def test_the_engine_steps_the_warmup_once_per_epoch_and_checkpoints_it(tmp_path):
    gen = np.random.default_rng(0)
    X, y = gen.standard_normal((32, 3)).astype(np.float32), gen.integers(0, 2, 32)

    def trainer():
        net = mlp([3, 4, 2], seed=0)
        opt = optim.Adam(net.parameters(), lr=0.01)
        return ffnn.Trainer(net, losses.SoftmaxCrossEntropy(), opt, schedules=catalog.schedules("warmup:2+cosine",
                                                                                                   opt, 5),
                            batch_size=8, seed=0)

    full = trainer()
    history = full.fit(X, y, epochs=5)
    assert history["lr"] == pytest.approx([0.01 / 3, 0.01 * 2 / 3, 0.01, 0.01 * 0.75, 0.01 * 0.25])   # each epoch's
    first = trainer()
    first.fit(X, y, epochs=2, checkpoint=tmp_path / "run.ckpt")
    resumed = trainer()
    resumed.fit(X, y, epochs=5, checkpoint=tmp_path / "run.ckpt")
    np.testing.assert_array_equal(resumed.model[0].weight.value, full.model[0].weight.value)
