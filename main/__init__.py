"""actgrad: activations, losses and their derivatives, computed by torch autograd."""

__version__ = "0.1.0"
