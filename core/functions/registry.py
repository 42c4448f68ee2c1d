"""The registry: every FunctionSpec by name and alias, readable without importing torch.

Commands, ``list``, ``explain``, completion, the README table and the test matrix are all
generated from :data:`REGISTRY`, built from the data modules :mod:`activations` and
:mod:`losses`.
"""

from __future__ import annotations

import difflib

from ..errors import UnknownFunction
from . import activations, losses
from .spec import REGISTERED, FunctionSpec, Kink, Param, Params, Region, TensorInput

__all__ = ["REGISTRY", "FunctionSpec", "Kink", "Param", "Params", "Region", "TensorInput"]

REGISTRY: dict[str, FunctionSpec] = REGISTERED
_LOOKUP: dict[str, str] = {}


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def _register(specs: tuple[FunctionSpec, ...]) -> None:
    for spec in specs:
        for name in (spec.name, *spec.aliases):
            key = _key(name)
            if key in _LOOKUP:
                raise ValueError(f"duplicate registry name {name!r}")
            _LOOKUP[key] = spec.name
        REGISTRY[spec.name] = spec


def names_and_aliases() -> list[str]:
    """Every spelling a user may type, hyphenated."""
    return sorted({k.replace("_", "-") for k in _LOOKUP})


def suggest(name: str) -> str | None:
    matches = difflib.get_close_matches(_key(name), list(_LOOKUP), n=1, cutoff=0.6)
    return _LOOKUP[matches[0]].replace("_", "-") if matches else None


def resolve(name: str) -> str | None:
    """The canonical torch name for a command name or alias, or None."""
    return _LOOKUP.get(_key(name))


def find(name: str) -> FunctionSpec | None:
    """The entry a command name or alias names, or None."""
    canonical = _LOOKUP.get(_key(name))
    return None if canonical is None else REGISTRY[canonical]


def get(name: str) -> FunctionSpec:
    """The entry a command name or alias names; an unknown name is the user's error (with the
    nearest name)."""
    spec = find(name)
    if spec is None:
        raise unknown(name)
    return spec


def unknown(name: str) -> UnknownFunction:
    """The error of a name no entry has, with the nearest name."""
    guess = suggest(name)
    hint = f"did you mean '{guess}'?" if guess else "run 'actgrad list' to see every function"
    return UnknownFunction(f"unknown function {name!r}", hint)


def specs() -> list[FunctionSpec]:
    return list(REGISTRY.values())


_register(activations.SPECS + losses.SPECS)
