"""Tests of ffnn.schedules: formulas over 20 epochs, side by side with torch's schedulers,
the momentum schedule, checkpoints and validation."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from ffnn.errors import ConfigError
from ffnn.optim import SGD, Adam, RMSprop
from ffnn.parameter import Parameter
from ffnn.schedules import (
    CosineLR,
    ExponentialLR,
    InverseTimeLR,
    LambdaLR,
    LinearWarmup,
    MomentumSchedule,
    ReduceLROnPlateau,
    Schedule,
    StepLR,
)
from reference import torch_lrs

try:
    import torch
except ImportError:  # pragma: no cover - depends on the environment
    torch = None

requires_torch = pytest.mark.skipif(torch is None, reason="PyTorch not installed")


def sgd(lr=0.1, **kwargs):
    return SGD([Parameter(np.zeros(3))], lr=lr, **kwargs)


def run(schedule, epochs=20, metrics=None):
    """lr for t = 0..epochs: the value before any step, then after each step."""
    values = [schedule.optimizer.lr]
    for t in range(epochs):
        returned = schedule.step(None if metrics is None else metrics[t])
        assert returned == schedule.optimizer.lr == schedule.value
        values.append(schedule.optimizer.lr)
    return values


# ---------------------------------------------------------------------------
# Formulas over 20 epochs
# ---------------------------------------------------------------------------

FORMULAS = [
    ("step", lambda o: StepLR(o, step_size=3),
     lambda t: 0.1 * 0.5 ** (t // 3)),
    ("step-gamma", lambda o: StepLR(o, step_size=5, gamma=0.1),
     lambda t: 0.1 * 0.1 ** (t // 5)),
    ("inverse-time", lambda o: InverseTimeLR(o, a=2.0, b=10.0),
     lambda t: 2.0 / (10.0 + t)),
    ("exponential", lambda o: ExponentialLR(o, gamma=0.9),
     lambda t: 0.1 * 0.9 ** t),
    ("cosine", lambda o: CosineLR(o, t_max=12, min_lr=0.001),
     lambda t: 0.001 + (0.1 - 0.001) * (1 + math.cos(math.pi * min(t, 12) / 12)) / 2),
    ("lambda", lambda o: LambdaLR(o, lambda t: 1 / (1 + 0.5 * t)),
     lambda t: 0.1 / (1 + 0.5 * t)),
]


@pytest.mark.parametrize("make, formula", [f[1:] for f in FORMULAS],
                         ids=[f[0] for f in FORMULAS])
def test_schedule_follows_its_formula_for_20_epochs(make, formula):
    schedule = make(sgd(0.1))
    assert schedule.epoch == 0
    values = run(schedule)
    expected = [formula(t) for t in range(21)]
    np.testing.assert_allclose(values, expected, rtol=1e-14)
    np.testing.assert_allclose([schedule.lr_at(t) for t in range(21)], expected, rtol=1e-14)
    assert schedule.epoch == schedule.last_epoch == 20
    assert schedule.last_lr == values[-1]


def test_step_lr_halves_by_default():
    assert run(StepLR(sgd(0.8), step_size=2), epochs=6) == [0.8, 0.8, 0.4, 0.4, 0.2, 0.2, 0.1]


def test_inverse_time_sets_lr_at_construction():
    opt = sgd(0.5)
    schedule = InverseTimeLR(opt, a=1.0, b=4.0)
    assert opt.lr == 0.25 == schedule.last_lr
    assert schedule.step() == 0.2


def test_cosine_is_clamped_after_t_max():
    values = run(CosineLR(sgd(1.0), t_max=4, min_lr=0.1), epochs=8)
    assert values[0] == 1.0
    assert values[4:] == [pytest.approx(0.1)] * 5


def test_schedule_ignores_metric_except_plateau():
    schedule = StepLR(sgd(0.1), step_size=1)
    assert schedule.step(3.5) == pytest.approx(0.05)


def test_lr_schedule_works_with_adam():
    opt = Adam([Parameter(np.zeros(2))], lr=0.01)
    ExponentialLR(opt, gamma=0.5).step()
    assert opt.lr == 0.005


# ---------------------------------------------------------------------------
# Against torch.optim.lr_scheduler
# ---------------------------------------------------------------------------

def _torch_lrs(make_scheduler, lr, epochs, metrics=None):
    param = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([param], lr=lr)
    scheduler = make_scheduler(opt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch_lrs(opt, scheduler, epochs, metrics)


TORCH_CASES = [
    ("step", lambda o: StepLR(o, step_size=3, gamma=0.5),
     lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5), 20),
    ("step-gamma", lambda o: StepLR(o, step_size=4, gamma=0.3),
     lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=4, gamma=0.3), 20),
    ("exponential", lambda o: ExponentialLR(o, gamma=0.85),
     lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.85), 20),
    ("cosine", lambda o: CosineLR(o, t_max=20),
     lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=20), 20),
    ("cosine-min", lambda o: CosineLR(o, t_max=15, min_lr=0.01),
     lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=15, eta_min=0.01), 15),
]


@requires_torch
@pytest.mark.parametrize("ours, theirs, epochs", [c[1:] for c in TORCH_CASES],
                         ids=[c[0] for c in TORCH_CASES])
def test_schedule_matches_torch(ours, theirs, epochs):
    values = run(ours(sgd(0.1)), epochs=epochs)
    expected = _torch_lrs(theirs, 0.1, epochs)
    np.testing.assert_allclose(values, expected, rtol=1e-12, atol=1e-15,
                               err_msg=f"ffnn {values}\ntorch {expected}")


METRICS = [1.0, 0.9, 0.8, 0.8, 0.79995, 0.81, 0.7, 0.7, 0.7, 0.7, 0.69, 0.5, 0.6, 0.6, 0.6,
           0.4, 0.4, 0.4, 0.4, 0.4, 0.39, 0.39, 0.39, 0.39, 0.38]
PLATEAU_CASES = [
    dict(),
    dict(patience=2),
    dict(factor=0.1, patience=1, cooldown=2),
    dict(threshold=0.05, threshold_mode="abs"),
    dict(threshold=0.01, patience=1),
    dict(factor=0.2, min_lr=0.005),
    dict(mode="max", patience=1),
    dict(mode="max", threshold_mode="abs", threshold=0.02, cooldown=1),
    dict(factor=0.5, min_lr=0.0999999999, eps=1e-8),
]


@requires_torch
@pytest.mark.parametrize("kwargs", PLATEAU_CASES, ids=[json.dumps(k) for k in PLATEAU_CASES])
def test_reduce_lr_on_plateau_matches_torch(kwargs):
    ours = run(ReduceLROnPlateau(sgd(0.1), **kwargs), epochs=len(METRICS), metrics=METRICS)
    torch_kwargs = {"factor": 0.5, "patience": 0, **kwargs}
    theirs = _torch_lrs(lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(o, **torch_kwargs),
                        0.1, len(METRICS), METRICS)
    assert len(set(ours)) > 1 or kwargs.get("min_lr", 0) > 0.09
    np.testing.assert_allclose(ours, theirs, rtol=1e-14, err_msg=f"ffnn {ours}\ntorch {theirs}")


def test_reduce_lr_on_plateau_by_hand():
    schedule = ReduceLROnPlateau(sgd(0.1), patience=1)
    lrs = [schedule.step(m) for m in [1.0, 0.8, 0.8, 0.8, 0.7, 0.7, 0.7]]
    # bad epochs: -, -, 1, 2 (> patience: halve, reset), -, 1, 2 (halve)
    assert lrs == [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025]
    assert schedule.best == 0.7 and schedule.last_lr == 0.025


def test_reduce_lr_on_plateau_follows_manual_lr_change():
    opt = sgd(0.1)
    schedule = ReduceLROnPlateau(opt)
    schedule.step(1.0)
    opt.lr = 0.4
    assert schedule.step(1.0) == 0.2


@pytest.mark.parametrize("metric, match", [
    (None, "None"),
    (float("nan"), "nan"),
    (float("inf"), "inf"),
    ("0.5", "'0.5'"),
])
def test_reduce_lr_on_plateau_rejects_bad_metric(metric, match):
    schedule = ReduceLROnPlateau(sgd(0.1))
    with pytest.raises(ConfigError, match=match):
        schedule.step(metric)
    assert schedule.epoch == 0


def test_reduce_lr_on_plateau_accepts_numpy_scalars():
    schedule = ReduceLROnPlateau(sgd(0.1))
    schedule.step(np.float32(1.0))
    schedule.step(np.array(2.0))
    assert schedule.last_lr == 0.05


# ---------------------------------------------------------------------------
# MomentumSchedule
# ---------------------------------------------------------------------------

def test_momentum_schedule_sequence():
    opt = sgd(0.1)
    schedule = MomentumSchedule(opt)          # 0.5 for t < 5, then 0.9
    assert opt.momentum == 0.5 == schedule.value == schedule.last_momentum
    values = [schedule.step() for _ in range(8)]
    assert values == [0.5, 0.5, 0.5, 0.5, 0.9, 0.9, 0.9, 0.9]
    assert opt.momentum == 0.9
    assert [schedule.value_at(t) for t in range(7)] == [0.5] * 5 + [0.9] * 2


def test_momentum_schedule_after_zero_and_rmsprop():
    opt = RMSprop([Parameter(np.zeros(2))], lr=0.01)
    MomentumSchedule(opt, start=0.2, end=0.8, after=0)
    assert opt.momentum == 0.8
    assert opt.momentum_buffer is not None


def test_momentum_schedule_needs_momentum():
    with pytest.raises(ConfigError, match="Adam"):
        MomentumSchedule(Adam([Parameter(np.zeros(2))]))


def test_momentum_schedule_drives_sgd_updates():
    p = Parameter(np.zeros(1))
    p.grad[...] = 1.0
    opt = SGD([p], lr=1.0)
    schedule = MomentumSchedule(opt, start=0.5, end=0.9, after=1)
    opt.step()                                # v = -1
    schedule.step()
    opt.step()                                # v = 0.9*(-1) - 1 = -1.9
    np.testing.assert_allclose(p.value, [-2.9], rtol=1e-15)


# ---------------------------------------------------------------------------
# Checkpoints, repr, validation
# ---------------------------------------------------------------------------

ALL = [
    lambda o: StepLR(o, step_size=2),
    lambda o: InverseTimeLR(o, a=1.0, b=2.0),
    lambda o: ExponentialLR(o, gamma=0.9),
    lambda o: CosineLR(o, t_max=10, min_lr=0.01),
    lambda o: ReduceLROnPlateau(o, patience=1, cooldown=1),
    lambda o: MomentumSchedule(o, after=3),
]
ALL_IDS = ["step", "inverse-time", "exponential", "cosine", "plateau", "momentum"]


@pytest.mark.parametrize("make", ALL, ids=ALL_IDS)
def test_state_dict_round_trip(make):
    metrics = [1.0, 0.9, 0.95, 0.97, 0.99, 0.8, 0.85, 0.9, 0.91, 0.92]
    a = make(sgd(0.1))
    for m in metrics:
        a.step(m)
    b_opt = sgd(0.1)
    b = make(b_opt)
    for m in metrics[:5]:
        b.step(m)
    state = json.loads(json.dumps(b.state_dict()))          # plain JSON, no pickle
    c_opt = sgd(b_opt.lr, momentum=b_opt.momentum)
    c = make(c_opt)
    c.load_state_dict(state)
    c_opt.lr, c_opt.momentum = b_opt.lr, b_opt.momentum       # the optimizer's own state
    assert c.state_dict() == b.state_dict()
    assert repr(c) == repr(b)
    for m in metrics[5:]:
        c.step(m)
    assert c.state_dict() == a.state_dict()
    assert (c_opt.lr, c_opt.momentum) == (a.optimizer.lr, a.optimizer.momentum)


def test_load_state_dict_rejects_bad_state():
    schedule = StepLR(sgd(0.1), step_size=2)
    with pytest.raises(ConfigError, match="ExponentialLR"):
        schedule.load_state_dict(ExponentialLR(sgd(0.1), gamma=0.5).state_dict())
    with pytest.raises(ConfigError, match="-3"):
        schedule.load_state_dict({**schedule.state_dict(), "step_size": -3})
    with pytest.raises(ConfigError, match="bogus"):
        schedule.load_state_dict({**schedule.state_dict(), "bogus": 1})
    assert schedule.step_size == 2


def test_repr():
    assert repr(StepLR(sgd(0.1), step_size=2)) == \
        "StepLR(base_lr=0.1, step_size=2, gamma=0.5, epoch=0)"
    assert repr(MomentumSchedule(sgd(0.1))) == \
        "MomentumSchedule(start=0.5, end=0.9, after=5, epoch=0)"


BAD = [
    (lambda o: StepLR(o, step_size=0), "0"),
    (lambda o: StepLR(o, step_size=2.5), "2.5"),
    (lambda o: StepLR(o, step_size=2, gamma=-0.5), "-0.5"),
    (lambda o: InverseTimeLR(o, a=-1.0, b=1.0), "-1.0"),
    (lambda o: InverseTimeLR(o, a=1.0, b=0.0), "0.0"),
    (lambda o: ExponentialLR(o, gamma=-0.9), "-0.9"),
    (lambda o: CosineLR(o, t_max=0), "0"),
    (lambda o: CosineLR(o, t_max=10, min_lr=-0.01), "-0.01"),
    (lambda o: LambdaLR(o, 0.5), "float"),
    (lambda o: ReduceLROnPlateau(o, factor=1.0), "1.0"),
    (lambda o: ReduceLROnPlateau(o, factor=0.0), "0.0"),
    (lambda o: ReduceLROnPlateau(o, threshold=-1e-3), "-0.001"),
    (lambda o: ReduceLROnPlateau(o, patience=-1), "-1"),
    (lambda o: ReduceLROnPlateau(o, mode="minimum"), "'minimum'"),
    (lambda o: ReduceLROnPlateau(o, threshold_mode="relative"), "'relative'"),
    (lambda o: ReduceLROnPlateau(o, min_lr=-0.5), "-0.5"),
    (lambda o: ReduceLROnPlateau(o, cooldown=-2), "-2"),
    (lambda o: MomentumSchedule(o, start=1.0), "1.0"),
    (lambda o: MomentumSchedule(o, end=-0.9), "-0.9"),
    (lambda o: MomentumSchedule(o, after=-1), "-1"),
]


@pytest.mark.parametrize("make, received", BAD, ids=[f"bad{i}-{r}" for i, (_, r) in enumerate(BAD)])
def test_bad_hyperparameter_raises_config_error_naming_value(make, received):
    with pytest.raises(ConfigError) as info:
        make(sgd(0.1))
    assert isinstance(info.value, ValueError)
    assert received in str(info.value), str(info.value)


def test_non_optimizer_rejected():
    with pytest.raises(ConfigError, match="dict"):
        StepLR({"lr": 0.1}, step_size=2)


def test_lambda_lr_rejects_bad_factor():
    schedule = LambdaLR(sgd(0.1), lambda t: -1.0)
    with pytest.raises(ConfigError, match="-1.0"):
        schedule.step()


# ---------------------------------------------------------------------------
# Exact messages and boundaries of every check (each names the hyper-parameter, the
# bound and the value received), the plateau comparisons at their thresholds, and the
# state that load_state_dict keeps when a key is missing.
# ---------------------------------------------------------------------------

def _raises(make, message):
    with pytest.raises(ConfigError) as info:
        make()
    assert str(info.value) == message


def _load(schedule, **changes):
    return lambda: schedule.load_state_dict({**schedule.state_dict(), **changes})


EXACT = [
    (lambda: StepLR({"lr": 0.1}, step_size=2), "StepLR needs an optimizer with a 'lr' attribute, got dict"),
    (lambda: StepLR(sgd(), step_size=0), "StepLR step_size must be >= 1, got 0"),
    (lambda: StepLR(sgd(), step_size=2, gamma=0.0), "StepLR gamma must be > 0.0, got 0.0"),
    (_load(StepLR(sgd(), step_size=2), base_lr=-1.0), "StepLR base_lr must be >= 0.0, got -1.0"),
    (lambda: StepLR(sgd(), step_size=2).lr_at(-1), "StepLR.lr_at t must be >= 0, got -1"),
    (lambda: InverseTimeLR(sgd(), a=0.0, b=1.0), "InverseTimeLR a must be > 0.0, got 0.0"),
    (lambda: InverseTimeLR(sgd(), a=1.0, b=0.0), "InverseTimeLR b must be > 0.0, got 0.0"),
    (lambda: ExponentialLR(sgd(), gamma=0.0), "ExponentialLR gamma must be > 0.0, got 0.0"),
    (_load(ExponentialLR(sgd(), gamma=0.5), base_lr=-1.0), "ExponentialLR base_lr must be >= 0.0, got -1.0"),
    (lambda: CosineLR(sgd(), t_max=0), "CosineLR t_max must be >= 1, got 0"),
    (lambda: CosineLR(sgd(), t_max=2, min_lr=-0.5), "CosineLR min_lr must be >= 0.0, got -0.5"),
    (_load(CosineLR(sgd(), t_max=2), base_lr=-1.0), "CosineLR base_lr must be >= 0.0, got -1.0"),
    (lambda: LambdaLR(sgd(), 0.5), "LambdaLR fn must be callable, got float"),
    (_load(LambdaLR(sgd(), abs), base_lr=-1.0), "LambdaLR base_lr must be >= 0.0, got -1.0"),
    (lambda: LambdaLR(sgd(), lambda t: -1.0).step(), "LambdaLR fn(1) must be >= 0.0, got -1.0"),
    (lambda: ReduceLROnPlateau(sgd()).step(None),
     "ReduceLROnPlateau.step needs the monitored metric (e.g. the validation loss: "
     "schedule.step(val_loss)), got None"),
    (lambda: ReduceLROnPlateau(sgd()).step("0.5"),
     "ReduceLROnPlateau.step expects a real-valued metric, got '0.5' (str)"),
    (lambda: ReduceLROnPlateau(sgd()).step(math.inf),
     "ReduceLROnPlateau.step got a non-finite metric inf; expected a finite loss (training may have diverged)"),
    (lambda: ReduceLROnPlateau(sgd(), factor=0.0),
     "ReduceLROnPlateau factor must be > 0.0, got 0.0 (expected a value in (0.0, 1.0))"),
    (lambda: ReduceLROnPlateau(sgd(), factor=1.0),
     "ReduceLROnPlateau factor must be < 1.0, got 1.0 (expected a value in (0.0, 1.0))"),
    (lambda: ReduceLROnPlateau(sgd(), threshold=-0.5), "ReduceLROnPlateau threshold must be >= 0.0, got -0.5"),
    (lambda: ReduceLROnPlateau(sgd(), patience=-1), "ReduceLROnPlateau patience must be >= 0, got -1"),
    (lambda: ReduceLROnPlateau(sgd(), mode="up"), "ReduceLROnPlateau mode must be one of 'min', 'max'; got 'up'"),
    (lambda: ReduceLROnPlateau(sgd(), threshold_mode="x"),
     "ReduceLROnPlateau threshold_mode must be one of 'rel', 'abs'; got 'x'"),
    (lambda: ReduceLROnPlateau(sgd(), min_lr=-0.5), "ReduceLROnPlateau min_lr must be >= 0.0, got -0.5"),
    (lambda: ReduceLROnPlateau(sgd(), cooldown=-1), "ReduceLROnPlateau cooldown must be >= 0, got -1"),
    (lambda: ReduceLROnPlateau(sgd(), eps=-0.5), "ReduceLROnPlateau eps must be >= 0.0, got -0.5"),
    (_load(ReduceLROnPlateau(sgd()), best=True), "ReduceLROnPlateau best must be a number, got True"),
    (_load(ReduceLROnPlateau(sgd()), best="x"), "ReduceLROnPlateau best must be a number, got 'x'"),
    (_load(ReduceLROnPlateau(sgd()), best=math.nan), "ReduceLROnPlateau best must be a number, got nan"),
    (_load(ReduceLROnPlateau(sgd()), num_bad_epochs=-1), "ReduceLROnPlateau num_bad_epochs must be >= 0, got -1"),
    (_load(ReduceLROnPlateau(sgd()), cooldown_counter=-1),
     "ReduceLROnPlateau cooldown_counter must be >= 0, got -1"),
    (lambda: MomentumSchedule(sgd(), start=-0.5),
     "MomentumSchedule start must be >= 0.0, got -0.5 (expected a value in [0.0, 1.0))"),
    (lambda: MomentumSchedule(sgd(), start=1.0),
     "MomentumSchedule start must be < 1.0, got 1.0 (expected a value in [0.0, 1.0))"),
    (lambda: MomentumSchedule(sgd(), end=-0.5),
     "MomentumSchedule end must be >= 0.0, got -0.5 (expected a value in [0.0, 1.0))"),
    (lambda: MomentumSchedule(sgd(), end=1.0),
     "MomentumSchedule end must be < 1.0, got 1.0 (expected a value in [0.0, 1.0))"),
    (lambda: MomentumSchedule(sgd(), after=-1), "MomentumSchedule after must be >= 0, got -1"),
    (lambda: StepLR(sgd(), step_size=2).load_state_dict([]), "StepLR.load_state_dict expects a dict, got list"),
    (_load(StepLR(sgd(), step_size=2), epoch=-1), "StepLR epoch must be >= 0, got -1"),
    (_load(StepLR(sgd(), step_size=2), value="x"), "StepLR value must be a real number, got 'x' (str)"),
    (lambda: LinearWarmup(sgd(), epochs=-1), "LinearWarmup epochs must be >= 1, got -1"),
    (_load(LinearWarmup(sgd(), epochs=2), epochs=0), "LinearWarmup epochs must be >= 1, got 0"),
    (_load(LinearWarmup(sgd(), epochs=2), base_lr=-1.0), "LinearWarmup base_lr must be >= 0.0, got -1.0"),
    (lambda: LinearWarmup(sgd(), epochs=2, start_factor=0.0),
     "LinearWarmup start_factor must be > 0.0, got 0.0 (expected a value in (0.0, 1.0])"),
    (lambda: LinearWarmup(sgd(), epochs=2, start_factor=1.5),
     "LinearWarmup start_factor must be <= 1.0, got 1.5 (expected a value in (0.0, 1.0])"),
    (lambda: LinearWarmup(sgd(), epochs=2).value_at(-1), "LinearWarmup t must be >= 0, got -1"),
    (lambda: LinearWarmup(sgd(), epochs=2, then=object()),
     "LinearWarmup then= must be a learning-rate schedule over the same optimizer, got object"),
    (lambda: LinearWarmup(sgd(), epochs=2).load_state_dict(
        (lambda o: LinearWarmup(o, epochs=2, then=StepLR(o, step_size=1)))(sgd()).state_dict()),
     "LinearWarmup state: the saved schedule after the warm-up does not match this one's (none)"),
    (lambda: (lambda o: LinearWarmup(o, epochs=2, then=CosineLR(o, t_max=2)))(sgd()).load_state_dict(
        LinearWarmup(sgd(), epochs=2).state_dict()),
     "LinearWarmup state: the saved schedule after the warm-up does not match this one's (CosineLR)"),
]


@pytest.mark.parametrize("make, message", EXACT, ids=[m[:60] for _, m in EXACT])
def test_check_message_is_exact(make, message):
    _raises(make, message)


def test_boundary_values_are_accepted():
    # the closed ends of each range, next to the open ones rejected above
    assert StepLR(sgd(0.0), step_size=1).lr_at(3) == 0.0
    assert InverseTimeLR(sgd(), a=1.0, b=0.5).value == 2.0          # b need only be > 0
    assert CosineLR(sgd(), t_max=1, min_lr=0.0).lr_at(1) == 0.0
    opt = sgd()
    MomentumSchedule(opt, start=0.0, end=0.0, after=0)
    assert opt.momentum == 0.0
    assert LinearWarmup(sgd(1.0), epochs=1, start_factor=1.0).value == 1.0
    plateau = ReduceLROnPlateau(sgd(), threshold=0.0, patience=0, min_lr=0.0, cooldown=0, eps=0.0)
    assert (plateau.threshold, plateau.eps) == (0.0, 0.0)


def test_custom_schedule_without_hyperparameters_rejects_some():
    class Constant(Schedule):
        def step(self, metric=None):
            self.epoch += 1
            return self._write(self.value)

    schedule = Constant(sgd(0.3))
    schedule.load_state_dict({"epoch": 2})                  # no hyper-parameters to restore
    assert (schedule.epoch, schedule.value) == (2, 0.3)
    with pytest.raises(ConfigError) as info:
        schedule._configure(lr=0.1)
    assert str(info.value) == "Constant takes no hyper-parameters, got ['lr']"


def test_load_state_dict_keeps_what_is_missing():
    schedule = StepLR(sgd(), step_size=2)
    schedule.step()
    schedule.load_state_dict({"step_size": 3})             # no schedule name, epoch or value
    assert (schedule.epoch, schedule.value, schedule.step_size) == (1, 0.1, 3)
    plateau = ReduceLROnPlateau(sgd(), patience=2, cooldown=3)
    for metric in (1.0, 2.0, 2.0, 2.0):
        plateau.step(metric)
    assert (plateau.best, plateau.num_bad_epochs, plateau.cooldown_counter) == (1.0, 0, 3)
    plateau.load_state_dict({"patience": 2})
    assert (plateau.best, plateau.num_bad_epochs, plateau.cooldown_counter) == (1.0, 0, 3)
    state = plateau.state_dict()
    assert (state["best"], state["num_bad_epochs"], state["cooldown_counter"]) == (1.0, 0, 3)
    plateau.load_state_dict({**state, "num_bad_epochs": 1, "cooldown_counter": 2, "best": 0.5})
    assert (plateau.best, plateau.num_bad_epochs, plateau.cooldown_counter) == (0.5, 1, 2)


def test_plateau_starts_with_no_bad_epochs_and_no_cooldown():
    plateau = ReduceLROnPlateau(sgd(), mode="max")
    assert (plateau.best, plateau.num_bad_epochs, plateau.cooldown_counter, plateau.epoch) == (-math.inf, 0, 0, 0)
    assert ReduceLROnPlateau(sgd()).best == math.inf


@pytest.mark.parametrize("mode, threshold_mode, threshold, best, same, better, worse", [
    ("min", "rel", 0.5, 2.0, 1.0, 0.99, 1.5),       # better: < best * (1 - threshold)
    ("min", "abs", 0.25, 1.0, 0.75, 0.74, 0.9),     # better: < best - threshold
    ("max", "rel", 0.5, 2.0, 3.0, 3.01, 2.5),       # better: > best * (1 + threshold)
    ("max", "abs", 0.25, 1.0, 1.25, 1.26, 1.1),     # better: > best + threshold
])
def test_plateau_improvement_is_strict_at_the_threshold(mode, threshold_mode, threshold, best, same, better, worse):
    plateau = ReduceLROnPlateau(sgd(), mode=mode, threshold_mode=threshold_mode, threshold=threshold)
    assert not plateau.is_better(same, best)        # exactly at the threshold: not an improvement
    assert plateau.is_better(better, best)
    assert not plateau.is_better(worse, best)
    assert not plateau.is_better(best, best)


def test_plateau_max_mode_with_relative_threshold_by_hand():
    plateau = ReduceLROnPlateau(sgd(0.1), mode="max", threshold=0.1, patience=1)
    # accuracy 0.5 (best), 0.54 (< 0.5 * 1.1: bad 1), 0.56 (better: best 0.56), 0.6 (bad 1), 0.61 (bad 2: halve)
    lrs = [plateau.step(m) for m in (0.5, 0.54, 0.56, 0.6, 0.61)]
    assert lrs == [0.1, 0.1, 0.1, 0.1, 0.05]
    assert plateau.best == 0.56 and plateau.epoch == 5


def test_plateau_epoch_counts_every_step():
    plateau = ReduceLROnPlateau(sgd(0.1))
    for k, metric in enumerate((1.0, 0.5, 0.25), start=1):    # all good epochs
        plateau.step(metric)
        assert plateau.epoch == k and plateau.num_bad_epochs == 0


def test_plateau_skips_a_reduction_of_exactly_eps():
    # lr - new_lr must exceed eps: 1.0 -> 0.5 changes lr by 0.5, which equals eps
    plateau = ReduceLROnPlateau(sgd(1.0), factor=0.5, eps=0.5)
    assert [plateau.step(m) for m in (1.0, 1.0)] == [1.0, 1.0]
    plateau = ReduceLROnPlateau(sgd(1.0), factor=0.5, eps=0.4999)
    assert [plateau.step(m) for m in (1.0, 1.0)] == [1.0, 0.5]


def test_momentum_schedule_writes_epoch_zero_value():
    opt = sgd()
    MomentumSchedule(opt, start=0.3, end=0.7, after=1)
    assert opt.momentum == 0.3


def test_warmup_base_lr_is_the_next_schedules_epoch_zero_lr():
    opt = sgd(1.0)
    then = StepLR(opt, step_size=1)                         # its base lr: 1.0
    opt.lr = 0.2                                            # a manual change before the warm-up
    warmup = LinearWarmup(opt, epochs=1, start_factor=0.5, then=then)
    assert warmup.base_lr == 1.0 and opt.lr == 0.5
    assert LinearWarmup(sgd(0.2), epochs=1).state_dict()["then"] is None
