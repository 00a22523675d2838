"""Deciding between two arms: the paired measurements (observed), the forecast at a target with its
three sources of uncertainty (forecast), where the frontiers cross (crossover), the verdict with its
level, margin and default target — the one home of the decision's rules (verdict) — and the whole
comparison (comparison), checked on its own largest size held out (holdout, scored); compare_arms
(compare) is the entry. Returns records and reason codes; report.sentences words them."""
