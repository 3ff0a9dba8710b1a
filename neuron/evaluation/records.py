"""What the matching stage keeps of each epoch's evaluation: per-sample decisions, not scores.

For each evaluation sample of a fold (main: the test part; validation: held-out pseudo-seen
and pseudo-unseen samples) an `EpochRecord` holds
- per stream (spatial, temporal; or global): the `Decisions` of its final-phase softmax over
  the fold's candidate classes — the official protocol calibrates and counts each stream;
- fused: the `Decisions` of `fused_scores` over the candidate classes — one prediction per
  sample, for the strict protocol;
- fused_zsl_pred: the fused prediction among the unseen classes only (the softmax taken over
  them alone, as when a model is given only the unseen classes' descriptions).
- weighted (two-stream heads): the same fused decisions and ZSL predictions with the spatial
  stream weighted 0.25 and 0.75 instead of 0.5, for a fusion chosen on the validation fold;
- encoder_pred, encoder_confidence: the encoder's own classifier of the fold's training classes
  (its argmax and its largest softmax probability), for GZSL gated by it (`EpochRecord.gated`);
  absent where the encoder was pretrained on other classes than the fold trains on.
Per-stream ZSL predictions are the streams' `unseen_pred` (an argmax over the unseen classes
does not depend on which other classes the softmax covered).
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neuron.atomic import atomic_path
from neuron.errors import MissingInputError
from neuron.evaluation.metrics import Decisions, decisions, fused_scores, softmax


@dataclass
class EpochRecord:
    epoch: int  # 1-based: the record of the model after `epoch` epochs
    labels: np.ndarray  # (N,) original class labels
    train_classes: np.ndarray  # seen classes of this fold (calibrated in GZSL)
    eval_classes: np.ndarray  # candidate classes of GZSL
    unseen_classes: np.ndarray  # candidate classes of ZSL
    streams: dict[str, Decisions]
    fused: Decisions
    fused_zsl_pred: np.ndarray  # (N,)
    # Two streams only: {spatial share w: (Decisions, ZSL predictions)} of the fusion w * spatial +
    # (1 - w) * temporal for the FUSION_WEIGHTS other than 1/2 (which is `fused`).
    weighted: dict[float, tuple[Decisions, np.ndarray]] = field(default_factory=dict)
    encoder_pred: np.ndarray | None = None  # (N,) the encoder classifier's seen class
    encoder_confidence: np.ndarray | None = None  # (N,) its largest softmax probability

    @property
    def is_unseen(self) -> np.ndarray:
        return np.isin(self.labels, self.unseen_classes)

    @property
    def gated(self) -> Decisions | None:
        """GZSL gated by the encoder's classifier (None without its outputs): a clip whose encoder
        confidence exceeds a threshold (gamma's role in `Decisions.predict`) gets the encoder's seen
        class, any other the fused prediction among the unseen classes. The seen/unseen decision and
        the seen class then come from a classifier trained for exactly that (on the seen classes),
        not from the matching head's margin."""
        if self.encoder_pred is None:
            return None
        return Decisions(self.encoder_pred, self.fused_zsl_pred, self.encoder_confidence)


def epoch_record(epoch: int, logits: dict[str, np.ndarray], labels: np.ndarray, *, train_classes,
                 eval_classes, unseen_classes, encoder_logits: np.ndarray | None = None) -> EpochRecord:
    """Decisions of final-phase logits {stream: (N, K_all)} over every class of the dataset
    (column = label) for samples with `labels`; `encoder_logits` (N, len(train_classes)): the
    encoder classifier's, columns in `train_classes` order."""
    eval_classes, unseen = np.asarray(eval_classes), np.asarray(unseen_classes)
    streams = {name: decisions(softmax(s[:, eval_classes]), eval_classes, train_classes)
               for name, s in logits.items()}
    fused = decisions(fused_scores(list(logits.values()), eval_classes), eval_classes, train_classes)
    fused_zsl = unseen[fused_scores(list(logits.values()), unseen).argmax(axis=1)]
    weighted = {}
    if len(logits) == 2:
        for w in FUSION_WEIGHTS:
            gzsl = decisions(fused_scores(list(logits.values()), eval_classes, (w, 1 - w)), eval_classes, train_classes)
            weighted[w] = (gzsl, unseen[fused_scores(list(logits.values()), unseen, (w, 1 - w)).argmax(axis=1)])
    encoder_pred = encoder_confidence = None
    if encoder_logits is not None:
        probs = softmax(encoder_logits)
        encoder_pred, encoder_confidence = np.asarray(train_classes)[probs.argmax(axis=1)], probs.max(axis=1)
    return EpochRecord(epoch, np.asarray(labels), np.asarray(train_classes), eval_classes, unseen,
                       streams, fused, fused_zsl, weighted, encoder_pred, encoder_confidence)


FUSION_WEIGHTS = (0.25, 0.75)  # spatial shares stored besides the equal fusion (strict protocol's choice)


def record_path(directory, epoch: int) -> Path:
    return Path(directory) / f"epoch_{epoch:03d}.npz"


def save_record(directory, record: EpochRecord) -> Path:
    arrays = {"epoch": np.array(record.epoch), "labels": record.labels, "train_classes": record.train_classes,
              "eval_classes": record.eval_classes, "unseen_classes": record.unseen_classes,
              "stream_names": np.array(list(record.streams)), "fused_zsl_pred": record.fused_zsl_pred}
    weighted = [(f"fused@{w}", dec) for w, (dec, _) in record.weighted.items()]
    for name, dec in [*record.streams.items(), ("fused", record.fused), *weighted]:
        arrays |= {f"{name}.seen_pred": dec.seen_pred, f"{name}.unseen_pred": dec.unseen_pred,
                   f"{name}.margin": dec.margin}
    arrays |= {f"fused@{w}.zsl_pred": zsl for w, (_, zsl) in record.weighted.items()}
    if record.encoder_pred is not None:
        arrays |= {"encoder.seen_pred": record.encoder_pred, "encoder.confidence": record.encoder_confidence}
    path = record_path(directory, record.epoch)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    return path


def load_record(path) -> EpochRecord:
    try:
        with np.load(path, allow_pickle=False) as z:
            a = {k: z[k] for k in z.files}
        def dec(name):
            return Decisions(a[f"{name}.seen_pred"], a[f"{name}.unseen_pred"], a[f"{name}.margin"])
        weights = sorted({float(k.split("@")[1].rsplit(".", 1)[0]) for k in a if k.startswith("fused@")})
        return EpochRecord(int(a["epoch"]), a["labels"], a["train_classes"], a["eval_classes"],
                           a["unseen_classes"], {str(s): dec(str(s)) for s in a["stream_names"]},
                           dec("fused"), a["fused_zsl_pred"],
                           {w: (dec(f"fused@{w}"), a[f"fused@{w}.zsl_pred"]) for w in weights},
                           a.get("encoder.seen_pred"), a.get("encoder.confidence"))
    except (KeyError, ValueError, OSError) as err:
        raise ValueError(f"{path}: not a readable epoch record ({err})") from err


def load_records(directory, epochs: int) -> list[EpochRecord]:
    """The records of epochs 1..`epochs` in `directory` (a record beyond them may be left by an
    interrupted epoch that was never committed to the checkpoint: it is ignored)."""
    missing = [e for e in range(1, epochs + 1) if not record_path(directory, e).is_file()]
    if missing:
        raise MissingInputError(f"{directory}: no evaluation record of epochs {missing} (train, or resume with "
                                f"--resume, the matching stage first)")
    return [load_record(record_path(directory, e)) for e in range(1, epochs + 1)]
