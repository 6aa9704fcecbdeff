"""Claims, results and the PASS/FAIL printing shared by every experiment."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Claim", "ExperimentResult", "Report"]


@dataclass(frozen=True)
class Claim:
    """One checked statement: what the course says, whether it held, and the numbers."""

    description: str
    passed: bool
    measured: str


@dataclass
class ExperimentResult:
    """What an experiment returns: its claims, the figures written and the run time."""

    name: str
    title: str
    claims: list[Claim] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """True when there is at least one claim and every claim holds."""
        return bool(self.claims) and all(c.passed for c in self.claims)


class Report:
    """Collects claims and figures while printing them.

    ``report.claim(description, passed, measured)`` prints ``PASS  description`` and an
    indented ``measured: ...`` line; ``report.finish()`` prints the summary and returns the
    :class:`ExperimentResult`.
    """

    def __init__(self, name: str, title: str, out_dir: Path | None, print_fn: Callable[..., None] = print,
                 quick: bool = False) -> None:
        self.result = ExperimentResult(name, title)
        self.out_dir = out_dir
        self.print = print_fn
        self.quick = quick
        self._start = time.perf_counter()
        print_fn(f"== {name}: {title}" + ("  [quick]" if quick else ""))

    def say(self, text: str = "") -> None:
        self.print(text)

    def claim(self, description: str, passed: Any, measured: str) -> bool:
        passed = bool(passed)
        self.result.claims.append(Claim(description, passed, measured))
        self.print(f"{'PASS' if passed else 'FAIL'}  {description}")
        self.print(f"      measured: {measured}")
        return passed

    def figure(self, fig: Any, filename: str) -> Path | None:
        """Save a matplotlib figure as ``out_dir/filename`` (PNG) and close it."""
        from ._figures import save
        path = save(fig, self.out_dir, filename)
        if path is not None:
            self.result.figures.append(path)
            self.print(f"figure: {path}")
        return path

    def finish(self) -> ExperimentResult:
        r = self.result
        r.seconds = time.perf_counter() - self._start
        n_ok = sum(c.passed for c in r.claims)
        self.print(f"== {r.name}: {n_ok}/{len(r.claims)} claims hold -> "
                   f"{'PASSED' if r.passed else 'FAILED'} ({r.seconds:.1f} s)")
        return r
