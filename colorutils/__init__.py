"""colorutils: the helper library of the executable book on automatic image colorization."""

__version__ = "0.3.0"


def __getattr__(name):
    # `colorutils.evaluate(...)` is imported lazily, so that `import colorutils` stays free of
    # TensorFlow.
    if name == "evaluate":
        from colorutils.evaluation import evaluate  # start-up: see above

        return evaluate
    raise AttributeError(f"module 'colorutils' has no attribute {name!r}")
