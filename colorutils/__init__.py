"""colorutils: the helper library of the executable book on automatic image colorization."""

import time

__version__ = "0.5.2"
#: ``time.perf_counter()`` when the package was first imported: a chapter's clock (it imports
#: colorutils in its first cells), read by :func:`colorutils.train.cost_line`.
IMPORTED_AT = time.perf_counter()


def __getattr__(name):
    # `colorutils.evaluate(...)` is imported lazily, so that `import colorutils` stays free of
    # TensorFlow.
    if name == "evaluate":
        from colorutils.evaluation import evaluate  # start-up: see above

        return evaluate
    raise AttributeError(f"module 'colorutils' has no attribute {name!r}")
