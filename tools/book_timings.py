"""Where ``make book``'s time went: ``_build/timings.json`` (called at the end of ``make book``).

Sources, none of which needs a notebook edited:

* jupyter-cache's records (``_build/.jupyter_cache/global.db``, table ``nbcache``): each
  notebook the book executed, with ``data.execution_seconds`` and the time it was stored
  (the end of its execution);
* the experiment grids' run folders (``$COLORBOOK_RUNS/<grid>/<run>/status.json``, written by
  :func:`colorutils.experiments.execute_run`): start and seconds of each papermill run;
* the kernel timer (``tools/kernel_timer.py``, ``_build/timings/kernel-<pid>.json``): seconds
  each kernel spent training, evaluating and building models.  A kernel belongs to the
  notebook or grid run its ``label`` names (``tools/execute_book.py`` runs pages side by
  side and labels each kernel), else the one whose execution window overlaps its life most.

``rest`` is a notebook's seconds minus the three categories: kernel start-up, imports, data
pipelines, figures, tables.  A notebook whose cache record predates this build (not
re-executed) is listed with ``"cached": true`` and its old seconds, outside the total.

Run: ``python tools/book_timings.py [--build _build] [--runs runs] [--since EPOCH]``.
"""

from __future__ import annotations

import argparse
import datetime
import glob
import json
import os
import sqlite3
import sys
import time

CATEGORIES = ("train", "evaluate", "build")


def _epoch(stamp: str, utc: bool) -> float:
    """Seconds since the epoch of an ISO time stamp (naive: UTC if ``utc``, else local)."""
    t = datetime.datetime.fromisoformat(stamp)
    if t.tzinfo is None and utc:
        t = t.replace(tzinfo=datetime.timezone.utc)
    return t.timestamp()


def cache_records(build: str) -> list[dict]:
    """Latest jupyter-cache record per notebook: ``{notebook, seconds, start, end}``."""
    db = os.path.join(build, ".jupyter_cache", "global.db")
    if not os.path.exists(db):
        return []
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        rows = con.execute("SELECT uri, data, created FROM nbcache").fetchall()
    latest: dict[str, dict] = {}
    for uri, data, created in rows:
        seconds = (json.loads(data) if isinstance(data, str) else data or {}).get(
            "execution_seconds")
        if seconds is None:
            continue
        end = _epoch(str(created).replace(" ", "T"), utc=True)  # jupyter-cache stores UTC
        rel = os.path.relpath(uri) if os.path.isabs(uri) else uri
        rec = {"notebook": uri if rel.startswith("..") else rel,
               "seconds": round(float(seconds), 2), "start": end - float(seconds), "end": end}
        if uri not in latest or end > latest[uri]["end"]:
            latest[uri] = rec
    return sorted(latest.values(), key=lambda r: r["start"])


def grid_runs(runs_dir: str) -> list[dict]:
    """Every grid run with a finished ``status.json``: ``{grid, run, status, seconds, ...}``."""
    out = []
    for path in sorted(glob.glob(os.path.join(runs_dir, "*", "*", "status.json"))):
        run_dir = os.path.dirname(path)
        if not os.path.exists(os.path.join(run_dir, "parameters.json")):
            continue  # not a grid run
        with open(path) as f:
            status = json.load(f)
        if "seconds" not in status or "started" not in status:
            continue
        start = _epoch(status["started"], utc=False)  # experiments writes local time
        out.append({"grid": os.path.basename(os.path.dirname(run_dir)),
                    "run": os.path.basename(run_dir), "status": status.get("status"),
                    "seconds": round(float(status["seconds"]), 2), "start": start,
                    "end": start + float(status["seconds"])})
    return sorted(out, key=lambda r: r["start"])


def kernels(timings_dir: str) -> list[dict]:
    """The kernel timer's records (``kernel-*.json``)."""
    out = []
    for path in sorted(glob.glob(os.path.join(timings_dir, "kernel-*.json"))):
        try:
            with open(path) as f:
                out.append(json.load(f))
        except (OSError, ValueError):
            continue
    return out


def _overlap(a0, a1, b0, b1) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _labelled(item: dict, label: str) -> bool:
    """Whether a kernel started for ``label`` (a page without suffix, or ``grid:NAME``;
    ``tools/execute_book.py`` sets it) ran ``item``."""
    if label.startswith("grid:"):
        return item.get("grid") == label[5:]
    page = os.path.splitext(item.get("notebook") or "")[0]
    return page == label or page.endswith(os.sep + label)  # relative, or absolute elsewhere


def attach_splits(items: list[dict], kernel_records: list[dict]) -> None:
    """Give each item (notebook or grid run) the categories of the kernels it ran: a kernel
    goes to the item its label names (of a grid: the grid's run it overlaps most), else, when
    pages ran one at a time, to the item whose execution window overlaps its life most."""
    for item in items:
        item["split"] = None
    for k in kernel_records:
        label = k.get("label")
        candidates = [x for x in items if _labelled(x, label)] if label else items
        best, best_overlap = None, 0.0
        for item in candidates:
            o = _overlap(item["start"], item["end"], k["started"], k["updated"])
            if o > best_overlap or (label and not label.startswith("grid:") and best is None):
                best, best_overlap = item, o
        if best is None:
            continue
        split = best["split"] or dict.fromkeys(CATEGORIES, 0.0)
        for cat in CATEGORIES:
            split[cat] += float(k.get("seconds", {}).get(cat, 0.0))
        best["split"] = split
    for item in items:
        if item["split"] is not None:
            split = {k: round(v, 2) for k, v in item["split"].items()}
            split["rest"] = round(item["seconds"] - sum(split.values()), 2)
            item["split"] = split


def _clean(item: dict) -> dict:
    out = {k: v for k, v in item.items() if k not in ("start", "end")}
    out["started"] = datetime.datetime.fromtimestamp(
        item["start"], datetime.timezone.utc).isoformat(timespec="seconds")
    return out


def profile(build: str, runs_dir: str, since: float | None = None) -> dict:
    """The profile as a dict (what ``timings.json`` holds); ``wall_seconds`` is the build's
    clock time from ``since`` (pages run side by side, so the pages' seconds add up to more)."""
    notebooks = cache_records(build)
    grids = grid_runs(runs_dir)
    attach_splits(notebooks + grids, kernels(os.path.join(build, "timings")))
    for nb in notebooks:
        nb["cached"] = since is not None and nb["end"] < since
    for run in grids:
        run["cached"] = since is not None and run["end"] < since
    fresh = [x for x in notebooks + grids if not x["cached"]]
    totals = dict.fromkeys((*CATEGORIES, "rest"), 0.0)
    for x in fresh:
        for k in totals:
            totals[k] += (x["split"] or {}).get(k, 0.0)
    return {
        "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "wall_seconds": None if since is None else round(time.time() - since, 2),
        "total_seconds": round(sum(x["seconds"] for x in fresh), 2),
        "notebooks_seconds": round(sum(x["seconds"] for x in notebooks if not x["cached"]), 2),
        "grid_seconds": round(sum(x["seconds"] for x in grids if not x["cached"]), 2),
        "split_seconds": {k: round(v, 2) for k, v in totals.items()},
        "grid_runs": [_clean(x) for x in grids],
        "notebooks": [_clean(x) for x in notebooks],
    }


def table(prof: dict) -> str:
    """The profile as a plain-text table (what ``make book`` prints)."""
    rows = [("", "seconds", *CATEGORIES, "rest")]
    for kind in ("grid_runs", "notebooks"):
        for x in prof[kind]:
            name = x.get("notebook") or f"{x['grid']}/{x['run']}"
            s = x["split"] or {}
            rows.append((os.path.basename(name) + (" (cached)" if x["cached"] else ""),
                         f"{x['seconds']:.0f}", *(f"{s[k]:.0f}" if s else "-"
                                                  for k in (*CATEGORIES, "rest"))))
    s = prof["split_seconds"]
    rows.append(("total", f"{prof['total_seconds']:.0f}",
                 *(f"{s[k]:.0f}" for k in (*CATEGORIES, "rest"))))
    if prof.get("wall_seconds") is not None:
        rows.append(("wall clock of the build", f"{prof['wall_seconds']:.0f}", "", "", "", ""))
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{r[0]:<{width}}" + "".join(f"{c:>9}" for c in r[1:]) for r in rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build", default="_build")
    p.add_argument("--runs", default=os.environ.get("COLORBOOK_RUNS", "runs"))
    p.add_argument("--since", type=float, default=None,
                   help="start of this build (seconds since the epoch): older records are "
                        "marked cached and left out of the totals")
    p.add_argument("--out", default=None, help="default: BUILD/timings.json")
    args = p.parse_args(argv)
    prof = profile(args.build, args.runs, args.since)
    out = args.out or os.path.join(args.build, "timings.json")
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out + ".tmp", "w") as f:
        json.dump(prof, f, indent=1)
    os.replace(out + ".tmp", out)
    print(table(prof))
    print(f"Wrote {out} ({time.strftime('%H:%M:%S')}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
