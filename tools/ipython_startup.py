"""IPython start-up file of ``make book`` (copied into ``$IPYTHONDIR/profile_default/startup``).

Loads ``$COLORBOOK_TIMER`` (``tools/kernel_timer.py``) as a module and installs its timer on
the kernel, leaving no name in the notebook's namespace; without the variable it does nothing.
"""


def _colorbook_timer():
    import importlib.util
    import os
    import sys

    path = os.environ.get("COLORBOOK_TIMER")
    if not path:
        return
    try:
        spec = importlib.util.spec_from_file_location("colorbook_kernel_timer", path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
        mod.startup()
    except Exception as err:  # a timer must never break the book
        print(f"colorbook timer not installed: {err}", file=sys.stderr)


_colorbook_timer()
del _colorbook_timer
