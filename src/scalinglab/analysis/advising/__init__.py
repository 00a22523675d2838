"""Advising a study that looks at its results as it goes: the next run worth most to the decision per
FLOP, and whether the rest of the plan could settle it (advice); the level each look decides at, so
that all its looks keep their stated error rate (stopping)."""
