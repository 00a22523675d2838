"""Fitting laws to points: the functional forms, each a record of what fitting it needs (laws), one
group's fitted law and how to read it (lawfit, target), the numerics (optimize), resampling over runs
(bootstrap), fitting a table's groups (fit) and the compute-optimal split (allocation); two arms
fitted together under shared parameters (joint), each model's posterior (posterior) and the models
weighed and averaged (models); the data-constrained law, one more law (constrained), and the
hyperparameter laws (hyperparams). Reads tables through analysis.reading; decides nothing."""
