"""How the photo recipe's configuration was chosen (benchmarks/README.md, "The photo model").

Three measurements on caltech101 (``../shared/data/caltech101``, the split the recipe derives
from file-name hashes), each in its own process so that they can run side by side:

``speed SIZE WIDTH [N]``
    training images/s of the recipe's model at one (image size, width): two epochs of ``N``
    training photos (default 1,280), the second one's rate (the first traces the graph).
``train LAMBDA``
    the recipe's configuration (``experiments.PHOTO_PRESETS["book"]``) rebalanced with another
    lambda, in the recipe's run root (``classification/classification_lam<LAMBDA>/seed0``).
``validate LAMBDA [LAMBDA ...]``
    each finished run decoded at every temperature of ``experiments.PHOTO_TEMPERATURES`` on the
    validation split (``experiments.choose_temperature``): the table that picks lambda and T.

Run: ``.venv/bin/python benchmarks/photo_selection.py speed 64 0.25`` (a few minutes each on
2 CPU cores; ``train`` as long as the recipe).
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from colorutils import data, experiments, quantize, settings  # noqa: E402

SHARED = pathlib.Path(os.environ.get("COLORBOOK_SHARED_DATA",
                                     pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"))
DATASET = f"folder:{SHARED / 'caltech101'}"


def config(**knobs) -> settings.Settings:
    return settings.resolve_chapter("book", experiments.PHOTO_PRESETS, dataset=DATASET, **knobs)


def speed(size: int, width: float, n: int = 1280) -> dict:
    root = tempfile.mkdtemp(prefix="photo_speed_")
    cfg = config(run_root=root, image_size=size, width=width, epochs=2, train_images=n)
    seconds = experiments.train_best(cfg, 0, verbose=0).history["train_seconds"]
    return dict(size=size, width=width, images=n, epoch_seconds=seconds,
                images_per_s=round(n / seconds[-1], 1))


def study_and_val(cfg):
    bins = quantize.ab_bins()
    val = data.load(cfg.dataset, "validation", cfg.image_size, cfg.batch_size,
                    limit=cfg.eval_images)
    return experiments.ClassificationStudy(cfg, bins, verbose=0), bins, val


def train(lam: float) -> dict:
    cfg = config()
    study, bins, val = study_and_val(cfg)
    weights = quantize.rebalance_weights(experiments.training_prior(cfg, bins), lam)
    run = study.train(experiments.classification_arm_name(lam), "classification", 0, val,
                      weights=weights, lam=lam)
    return dict(lam=lam, run_dir=run.run_dir, train_seconds=sum(run.history["train_seconds"]),
                val_loss=run.history["val_loss"])


def validate(lams: list[float]) -> dict:
    cfg = config()
    study, bins, val = study_and_val(cfg)
    l_val, ab_val = data.to_arrays(val)[:2]
    out = {}
    for lam in lams:
        model = study.study.load(study.arm(experiments.classification_arm_name(lam),
                                           "classification", lam=lam)).model
        chosen, sweep = experiments.choose_temperature(model, l_val, ab_val)
        out[f"{lam:g}"] = {"chosen_temperature": chosen, "sweep": sweep}
        for row in sweep:
            print(f"lambda {lam:g} T {row['temperature']:<5g} ratio "
                  f"{row['colorfulness_ratio']:.3f} PSNR {row['psnr']:.2f} (gray "
                  f"{row['gray_psnr']:.2f}) AuC {row['auc']:.4f} (gray {row['gray_auc']:.4f}) "
                  f"goals {row['goals_met']}")
    return out


if __name__ == "__main__":
    what, args = sys.argv[1], sys.argv[2:]
    if what == "speed":
        result = speed(int(args[0]), float(args[1]), *map(int, args[2:3]))
    elif what == "train":
        result = train(float(args[0]))
    elif what == "validate":
        result = validate([float(a) for a in args])
    else:
        sys.exit(f"unknown measurement {what!r}: use speed, train or validate (see the docstring)")
    print(json.dumps(result, default=str))
