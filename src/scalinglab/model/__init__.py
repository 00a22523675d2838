"""The transformer and its accounting (parameter counts, FLOPs). No training logic.

The accounting is plain arithmetic and must import without torch (the plan, the store and the
report count parameters and FLOPs); the Transformer is imported on first use.
"""

from scalinglab.model.accounting import ParamCounts, chinchilla_flops, count_params, training_flops_per_token

__all__ = ["ParamCounts", "Transformer", "chinchilla_flops", "count_params", "training_flops_per_token"]


def __getattr__(name: str):
    if name == "Transformer":  # PEP 562: torch loads only for those who build a model
        from scalinglab.model.transformer import Transformer

        return Transformer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
