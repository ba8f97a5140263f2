"""Run the top of a chapter in this process: set-up cell, parameters cell, the values papermill
would inject, and the parameters check right after them (what ``cfg`` becomes).

With ``colab=True`` a stand-in ``google.colab`` (whose ``drive.mount`` makes ``MyDrive`` under
the mount point, or raises ``mount_error``) is in ``sys.modules`` while the cells run, and the
set-up cell's pip install is recorded instead of run.  Used by the tests of the Drive default
and of list parameters typed as text.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import subprocess
import sys
import types

TAG = "parameters"


def top_cells(path: pathlib.Path) -> tuple[str, str, str]:
    """Sources of the set-up cell, the parameters cell and the cell after it."""
    cells = [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"]
             if c["cell_type"] == "code"]
    i = next(k for k, c in enumerate(cells) if TAG in c.get("metadata", {}).get("tags", []))
    setup = next(c for c in cells if "colab-setup" in c.get("metadata", {}).get("tags", []))
    return tuple("".join(c["source"]) for c in (setup, cells[i], cells[i + 1]))


def fake_colab(mount_error: Exception | None = None) -> tuple[types.ModuleType, list]:
    """A stand-in ``google.colab`` package; the list records every mount point mounted."""
    mounted = []

    def mount(mountpoint, force_remount=False, **kwargs):
        if mount_error is not None:
            raise mount_error
        os.makedirs(os.path.join(mountpoint, "MyDrive"), exist_ok=True)
        mounted.append(mountpoint)

    colab = types.ModuleType("google.colab")
    colab.drive = types.ModuleType("google.colab.drive")
    colab.drive.mount = mount
    return colab, mounted


def run_top(path: pathlib.Path, injected: dict | None = None, colab: bool = False,
            mount_error: Exception | None = None) -> dict:
    """The chapter's namespace after its top cells; ``ns["mounted"]``: Drive mount points,
    ``ns["pip"]``: the commands the set-up cell ran."""
    setup, params, check = top_cells(path)
    colab_module, mounted = fake_colab(mount_error)
    calls = []
    ns = {"__name__": "__main__"}
    with contextlib.ExitStack() as stack:
        if colab:
            for name, module in (("google.colab", colab_module),
                                 ("google.colab.drive", colab_module.drive)):
                stack.callback(_restore, name, sys.modules.get(name))
                sys.modules[name] = module
        real_run, subprocess.run = subprocess.run, lambda cmd, *a, **k: calls.append(cmd)
        try:
            exec(compile(setup, f"{path.name}:setup", "exec"), ns)
        finally:
            subprocess.run = real_run
        exec(compile(params, f"{path.name}:parameters", "exec"), ns)
        ns.update(injected or {})
        exec(compile(check, f"{path.name}:check", "exec"), ns)
    ns["mounted"], ns["pip"] = mounted, calls
    return ns


def _restore(name: str, module) -> None:
    if module is None:
        sys.modules.pop(name, None)
    else:
        sys.modules[name] = module
