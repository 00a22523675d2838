"""Reading a table of runs, before any law: loading and checking it (table, where), what kind of
experiment it holds (design), each arm's compute-optimal points (frontier), and the run-to-run noise
the table itself measures (noise: from seeds, standard errors or its own smoothness, never from a
law's misfit). Imports nothing else of the analysis."""
