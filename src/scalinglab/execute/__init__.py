"""Runs a study's runs: a local process pool (workers × threads) or Ray; skips what is done, resumes the rest."""

from scalinglab.execute.driver import Finished, Observer, Summary, make_executor, plan_study, run_study
from scalinglab.execute.resources import MALLOC_ENV, Resources, available_cpus, choose_resources

__all__ = [
    "MALLOC_ENV",
    "Finished",
    "Observer",
    "Resources",
    "Summary",
    "available_cpus",
    "choose_resources",
    "make_executor",
    "plan_study",
    "run_study",
]
