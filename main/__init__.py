"""actgrad: activations, losses and their derivatives, computed by torch autograd.

As a library (:mod:`actgrad.api`): ``actgrad.evaluate("sigmoid", x=0.5, grad=True)`` and
``actgrad.accuracy("gelu", dtypes=["bfloat16"])``. Importing actgrad imports neither torch
nor the API; the first use of a name below does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .version import __version__

__all__ = [
    "Accuracy",
    "ActgradError",
    "BadInput",
    "Result",
    "__version__",
    "accuracy",
    "evaluate",
    "request",
]

if TYPE_CHECKING:
    from .api import Accuracy, ActgradError, BadInput, Result, accuracy, evaluate, request


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'actgrad' has no attribute {name!r}")
