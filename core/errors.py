"""Typed errors. Each carries what was wrong and how to fix it; the CLI maps them to exit codes."""

from __future__ import annotations


class ActgradError(Exception):
    """Base class: ``message`` says what is wrong, ``hint`` how to fix it."""

    code = "error"
    usage = True  # True: the user's input is at fault (exit 2); False: evaluation failed (exit 1)

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message


class BadInput(ActgradError):
    """A value, list, range or array given for a tensor input could not be used."""

    code = "bad_input"


class UnknownFunction(ActgradError):
    code = "unknown_function"


class BadParameter(ActgradError):
    """A function parameter or an evaluation option is invalid."""

    code = "bad_parameter"


class TooLarge(ActgradError):
    """The request would allocate more elements than the cap allows."""

    code = "too_large"


class DeviceUnavailable(ActgradError):
    code = "device_unavailable"


class ServerState(ActgradError):
    """`actgrad server start|stop|status` found the server not as asked (none, another,
    one that did not start): exit 1."""

    code = "server"
    usage = False


class EvaluationFailed(ActgradError):
    """torch raised while evaluating a request that passed validation."""

    code = "evaluation_failed"
    usage = False
