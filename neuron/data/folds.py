"""Folds: which classes a run trains on and which samples evaluate it.

A zero-shot split partitions the classes into seen S and unseen U. Two folds are trained
from it, with the same code:

- "main": trains on the seen classes S; evaluates on the test part of the benchmark,
  every class (ZSL: samples of U among U; GZSL: samples of S and U among S + U).
- "validation": the split repeated inside the seen classes, for choices made without
  test labels (the strict protocol). A fixed subset U' of S is held out as pseudo-unseen,
  the rest S' = S - U' is pseudo-seen; it trains on S' and evaluates on the held-out
  samples of S' plus every training-part sample of U', among the classes S. The real
  unseen classes U appear nowhere in it.

In both folds a share (`val_fraction`) of the seen classes' training-part samples is held out
(`heldout_rows`): never trained on by the encoder or the head, used to select the encoder's
epoch and to monitor the matching stage. The main fold holds out a stratified share of each
seen class's samples; the official recipe none (val_fraction 0).

The validation fold always needs its share, and there it stands in for the test set's seen
clips, so it is held out the way the test set is: on a benchmark whose test part is performed
by other subjects than its training part (cross-subject; known from the manifest's `subject`
column), it holds out whole training subjects (`holdout` "subjects": the share of the training
subjects, at least one), whose pseudo-seen clips it evaluates on. Held-out clips of subjects
it trained on were measured far easier than the test set's (the UTD-MHAD encoders classify
95% of them right against 82% of the test set's seen clips), so a GZSL calibration chosen on
them expected seen clips to be recognised more surely than the test set's are. Elsewhere, or
without subjects, it holds out the main fold's stratified share (`holdout` "samples"). Its
pseudo-unseen clips are every training-part clip of U', of every subject: never trained on, and
the more of them, the steadier the choices.

The held-out samples and U' depend only on the split and the fractions (fixed seeds below),
never on the training seed, so a run with another seed cannot train on samples an earlier
encoder held out.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from neuron.data.feeder import split_train_val
from neuron.data.splits import Split
from neuron.data.store import select_rows
from neuron.errors import UserError

FOLDS = ("main", "validation")
HOLDOUT_SEED = 0  # stratified held-out samples of the seen classes
PSEUDO_UNSEEN_SEED = 0  # choice of the pseudo-unseen classes U'


@dataclass(frozen=True)
class Fold:
    """train_classes: classes trained on, in training-label order (label i = train_classes[i]);
    eval_classes: candidate classes at evaluation; unseen_classes: eval_classes minus
    train_classes (U, or U' for the validation fold). Rows index the dataset's manifest."""

    name: str
    train_classes: tuple[int, ...]
    eval_classes: tuple[int, ...]
    unseen_classes: tuple[int, ...]
    train_rows: np.ndarray
    heldout_rows: np.ndarray
    eval_rows: np.ndarray
    holdout: str = "samples"  # how heldout_rows were drawn: "samples" (stratified) or "subjects"


def pseudo_unseen_classes(split: Split, fraction: float | None = None) -> tuple[int, ...]:
    """U': round(fraction * |S|) seen classes (at least 1, leaving at least 2 pseudo-seen),
    chosen at random with a fixed seed; fraction None: the split's unseen share |U| / K."""
    fraction = len(split.unseen) / split.num_classes if fraction is None else fraction
    count = min(max(int(round(fraction * len(split.seen))), 1), len(split.seen) - 2)
    if count < 1:
        raise UserError(f"split {split.dataset}/{split.name} has {len(split.seen)} seen classes; the "
                        f"validation fold needs at least 3 (1 pseudo-unseen, 2 pseudo-seen)")
    rng = np.random.default_rng(PSEUDO_UNSEEN_SEED)
    return tuple(sorted(int(c) for c in rng.choice(split.seen, size=count, replace=False)))


def make_fold(name: str, split: Split, manifest: pd.DataFrame, benchmark: str, *, val_fraction: float,
              pseudo_unseen_fraction: float | None = None) -> Fold:
    """The fold `name` ("main" or "validation") of `split` on `benchmark` of a manifest."""
    if name not in FOLDS:
        raise UserError(f"fold must be one of {FOLDS}, got {name!r}")
    seen_train = select_rows(manifest, benchmark=benchmark, part="train", classes=split.seen)
    labels = manifest["label"].to_numpy()
    missing = sorted(set(split.seen) - set(labels[seen_train]))
    if missing:
        raise UserError(f"{split.dataset}/{benchmark}: seen classes {missing} have no training samples")
    holdout = "samples"
    if val_fraction == 0:  # the official recipe: every seen training sample is trained on
        if name == "validation":
            raise UserError("the validation fold evaluates on held-out pseudo-seen samples: it needs val_fraction > 0")
        train_rows, heldout_rows = seen_train, seen_train[:0]
    elif name == "validation" and cross_subject(manifest, benchmark):
        holdout, subjects = "subjects", manifest["subject"].to_numpy()[seen_train]
        is_held = np.isin(subjects, heldout_subjects(subjects, val_fraction))
        train_rows, heldout_rows = seen_train[~is_held], seen_train[is_held]
    else:
        keep, held = split_train_val(labels[seen_train], fraction=val_fraction, seed=HOLDOUT_SEED)
        train_rows, heldout_rows = seen_train[keep], seen_train[held]

    if name == "main":
        test_rows = select_rows(manifest, benchmark=benchmark, part="test")
        absent = sorted(set(split.unseen) - set(labels[test_rows]))
        if absent:
            raise UserError(f"{split.dataset}/{benchmark}: unseen classes {absent} have no test samples")
        return Fold(name, split.seen, tuple(range(split.num_classes)), split.unseen,
                    train_rows, heldout_rows, test_rows)

    pseudo_unseen = pseudo_unseen_classes(split, pseudo_unseen_fraction)
    pseudo_seen = tuple(c for c in split.seen if c not in pseudo_unseen)
    in_pseudo_seen = np.isin(labels, pseudo_seen)
    heldout_rows = heldout_rows[in_pseudo_seen[heldout_rows]]
    eval_rows = np.union1d(heldout_rows, seen_train[np.isin(labels[seen_train], pseudo_unseen)])
    return Fold(name, pseudo_seen, split.seen, pseudo_unseen,
                train_rows[in_pseudo_seen[train_rows]], heldout_rows, eval_rows, holdout)


def cross_subject(manifest: pd.DataFrame, benchmark: str) -> bool:
    """Whether `benchmark`'s training and test parts are performed by disjoint sets of subjects
    (and the manifest says who performed each sample)."""
    if "subject" not in manifest.columns:
        return False
    parts = manifest.groupby(benchmark)["subject"].agg(set)
    return {"train", "test"} <= set(parts.index) and not parts["train"] & parts["test"]


def heldout_subjects(subjects: np.ndarray, fraction: float) -> np.ndarray:
    """round(fraction * n) of the n distinct `subjects` (at least 1, at most n - 1), drawn with
    HOLDOUT_SEED: the subjects whose clips the validation fold holds out."""
    distinct = np.unique(subjects)
    if len(distinct) < 2:
        raise UserError(f"holding out whole subjects needs at least 2 training subjects, got {distinct.tolist()}")
    count = min(max(int(round(fraction * len(distinct))), 1), len(distinct) - 1)
    return np.sort(np.random.default_rng(HOLDOUT_SEED).choice(distinct, size=count, replace=False))
