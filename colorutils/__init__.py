"""colorutils: the helper library of the executable book on automatic image colorization."""

__version__ = "0.1.0"
