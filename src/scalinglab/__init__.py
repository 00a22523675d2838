"""scalinglab: plan, train, fit and compare scaling laws of language-model recipes."""

__version__ = "0.1.0"
