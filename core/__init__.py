"""actgrad.core: evaluation of activations and their derivatives with torch autograd.

Importing this package does not import torch; only :func:`evaluate` does.
"""

from ..version import __version__
from .errors import ActgradError, BadInput, EvaluationFailed
from .parse.options import DEFAULT_MAX_ELEMENTS
from .request import Request

__all__ = [
    "DEFAULT_MAX_ELEMENTS",
    "ActgradError",
    "BadInput",
    "EvaluationFailed",
    "Request",
    "__version__",
    "evaluate",
]


def evaluate(request: Request):
    """Evaluate ``request`` (imports torch on first use) and return a Result, with the true
    values (--exact) and the --check report when asked for."""
    from .accuracy.notes import judge
    from .evaluator import engine

    result = engine.torch_result(request, judge)
    if request.exact:
        from .accuracy.check import exact  # mpmath

        result.exact = exact(request, result)
        result.notes += [
            f"--exact: no true value here: {why}" for why in result.exact.get("missing", [])
        ]
    if request.check:
        from .accuracy.check import check

        result.check = check(request, result, request.ulps)
    return result
