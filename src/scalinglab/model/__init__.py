"""The transformer and its accounting (parameter counts, FLOPs). Pure PyTorch; no training logic."""

from scalinglab.model.accounting import ParamCounts, chinchilla_flops, count_params, training_flops_per_token
from scalinglab.model.transformer import Transformer

__all__ = ["ParamCounts", "Transformer", "chinchilla_flops", "count_params", "training_flops_per_token"]
