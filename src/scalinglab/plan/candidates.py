"""Runs a study could train next, with what each would cost: the menu the advisor chooses from.

A candidate is one arm (or both) at one point of the study's ladder: a width and, when the study
sweeps budgets, a token budget. The ladder is the study's own widths, extended by its width rule:
an evenly spaced sweep (32, 48, 64, …) continues by its step, any other by its ratio (64, 128, …),
rounded to a multiple of head_dim. A point where both arms train the same run (their settings meet
there, like the crossover study's pivot) is no candidate: it tells nothing about their difference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scalinglab.config import ConfigError, RunSpec, Study, load_study
from scalinglab.plan.plan import PlannedRun, make_plan

SCALE_AXES = ("width", "tokens_per_param", "seed")
"""Axes a ladder of candidates may sweep; any other (lr, batch size, decay) is tuned, not scaled."""


@dataclass(frozen=True)
class CandidateRuns:
    """The runs one candidate would train, and their cost."""

    arms: tuple[str, ...]
    """Arm names, one or two."""
    width: int
    tokens_per_param: float | None
    runs: tuple[PlannedRun, ...]
    """The runs still to train (one per distinct digest)."""
    in_sweep: bool
    """Whether the study file defines these runs (else: the ladder extended)."""

    @property
    def params(self) -> float:
        return float(self.runs[0].budget.params_non_embedding)

    @property
    def tokens(self) -> float:
        return float(self.runs[0].budget.tokens)

    @property
    def flops(self) -> float:
        return sum(r.budget.flops for r in self.runs)

    @property
    def seconds(self) -> float | None:
        times = [r.seconds for r in self.runs]
        return None if any(t is None for t in times) else sum(times)

    @property
    def label(self) -> str:
        """e.g. 'w112 constant+scaled', 'w64 20xN scaled'."""
        budget = f" {self.tokens_per_param:g}xN" if self.tokens_per_param is not None else ""
        return f"w{self.width}{budget} {'+'.join(self.arms)}"


def extend_widths(widths: list[int], head_dim: int, up: int, down: int = 0) -> list[int]:
    """The sweep's widths and `up` (`down`) more rungs above (below) them, by the ladder's own rule."""
    w = sorted(set(widths))
    if len(w) < 2:
        return w
    steps = np.diff(w)
    even = np.all(steps == steps[0])
    ratio = float(np.exp(np.mean(np.diff(np.log(w)))))

    def rung(x: float) -> int:
        return max(head_dim, int(round(x / head_dim)) * head_dim)

    above, below = [], []
    top, bottom = w[-1], w[0]
    for _ in range(up):
        top = rung(top + steps[0] if even else top * ratio)
        above.append(top)
    for _ in range(down):
        bottom = rung(bottom - steps[0] if even else bottom / ratio)
        if bottom < w[0] and bottom not in below:
            below.append(bottom)
    return sorted(set(w + above + below))


def candidate_runs(study: Study, arms: tuple[str, str], done: set[str], *, extend: int = 0,
                   tokens_per_s: dict[str, float] | None = None) -> list[CandidateRuns]:
    """Every arm and pair at every ladder point with a run still to train (digests in `done` are).

    extend: rungs beyond the sweep's largest width to consider too.
    """
    swept = {axis for run in study.runs for axis in run.axes}
    tuned = sorted(swept - set(SCALE_AXES))
    if tuned:
        raise ConfigError(f"{study.path}: the study also sweeps {', '.join(tuned)}: the advisor weighs runs along "
                          f"a ladder of widths and budgets, and a tuned setting is not a rung")
    sweep_ids = {r.run_id for r in study.runs}
    if extend:
        widths = sorted({r.width for r in study.runs})
        head_dim = study.runs[0].config.model.head_dim
        study = load_study(study.path, widths=extend_widths(widths, head_dim, extend))
    planned = make_plan(study, order="listed", tokens_per_s=tokens_per_s).runs
    points: dict[tuple, dict[str, PlannedRun]] = {}
    for run in planned:
        if run.spec.arm in arms and "seed" not in run.spec.axes:  # replicates measure noise; not rungs
            points.setdefault(_point(run.spec), {})[run.spec.arm] = run
    out = []
    for (width, tpp), by_arm in sorted(points.items()):
        if len(by_arm) < 2 or by_arm[arms[0]].spec.digest == by_arm[arms[1]].spec.digest:
            continue
        in_sweep = all(r.spec.run_id in sweep_ids for r in by_arm.values())
        todo = {a: r for a, r in by_arm.items() if r.spec.digest not in done}
        for chosen in ((arms[0],), (arms[1],), arms):
            if all(a in todo for a in chosen):
                out.append(CandidateRuns(chosen, width, tpp, tuple(todo[a] for a in chosen), in_sweep))
    return out


def _point(spec: RunSpec) -> tuple[int, float | None]:
    tpp = spec.axes.get("tokens_per_param")
    return spec.width, None if tpp is None else float(tpp)
