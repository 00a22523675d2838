"""Expands a study into runs with budgets, FLOPs and time estimates, without training anything."""

from scalinglab.plan.budget import Budget, resolve_budget
from scalinglab.plan.plan import Order, Plan, PlannedRun, largest_planned, make_plan, makespan, shape_key

__all__ = ["Budget", "Order", "Plan", "PlannedRun", "largest_planned", "make_plan", "makespan", "resolve_budget", "shape_key"]
