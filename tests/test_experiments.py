"""Every experiment runs (quick mode), holds all of its claims and writes its PNG figures."""

from __future__ import annotations

import importlib.util

import pytest

from ffnn.experiments import EXPERIMENTS, Claim, ExperimentResult, run
from ffnn.errors import ConfigError

HAVE_MPL = importlib.util.find_spec("matplotlib") is not None


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_experiment_passes_and_saves_figures(name, tmp_path):
    lines: list[str] = []
    result = EXPERIMENTS[name].run(tmp_path, quick=True, seed=0, print_fn=lines.append)
    assert isinstance(result, ExperimentResult)
    assert result.claims and all(isinstance(c, Claim) for c in result.claims)
    failed = [f"{c.description}: {c.measured}" for c in result.claims if not c.passed]
    assert result.passed, "\n".join(failed)
    text = "\n".join(lines)
    assert text.count("PASS  ") == len(result.claims)
    assert "measured:" in text
    if HAVE_MPL:
        assert result.figures, "no figure written"
        for path in result.figures:
            assert path.exists() and path.suffix == ".png" and path.parent == tmp_path
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_registry_entries_have_name_and_one_line_title():
    for name, exp in EXPERIMENTS.items():
        assert exp.name == name
        assert exp.title and "\n" not in exp.title


def test_no_figures_without_out_dir():
    result = EXPERIMENTS["softmax-limits"].run(None, quick=True, print_fn=lambda *a: None)
    assert result.passed and result.figures == []


def test_failed_claim_makes_result_fail():
    r = ExperimentResult("x", "t", claims=[Claim("a", True, "1"), Claim("b", False, "2")])
    assert not r.passed
    assert not ExperimentResult("x", "t").passed        # no claims: nothing verified


def test_unknown_experiment_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown experiment"):
        run("no-such-experiment")
