"""Whether a better seen-vs-unseen score than the encoder's softmax confidence lifts the strict
protocol's gated GZSL, measured on finished runs (encodes the clips again with each fold's
encoder; trains nothing).

    OMP_NUM_THREADS=1 python benchmarks/gate_scores.py --seeds 1 2 3 > benchmarks/results/gate_scores_utd.md

The gate (`EpochRecord.gated`) gives a clip the encoder's seen class when a score says it is of a
seen class, otherwise the model's prediction among the unseen classes. Candidate scores, all
label-free and all from the frozen encoder's pooled features (N, 256):
  softmax    the largest softmax probability of the encoder's classifier (the project's gate)
  energy     log-sum-exp of that classifier's logits
  mahalanobis  minus the smallest Mahalanobis distance to a training class mean, one shared
             covariance (Ledoit-Wolf shrinkage: ~200 clips for 256 dimensions)
  nearest clip the cosine similarity to the most similar training clip of the fold
Part 1: AUROC of seen against unseen clips, on the validation fold (held-out subject's pseudo-seen
clips against pseudo-unseen ones) and on the test set. Part 2: the strict gated GZSL of each model
with each score, epoch and threshold chosen on the validation fold (absolute transfer, as the
headline): test seen / unseen accuracy per split (mean over seeds), mean H, mean AUSUC.
"""

import itertools
from dataclasses import replace

import numpy as np
import torch
from sklearn.covariance import LedoitWolf
from sklearn.metrics import roc_auc_score

from finished_runs import parse_run_arguments
from gzsl_rules import TARGET, load_run
from neuron.data.feeder import SkeletonFeeder
from neuron.evaluation.protocols import strict_protocol
from neuron.models.zero_shot import ZeroShotModel, load_encoder
from neuron.runs import ENCODER_FILE, Run, seeded_name
from neuron.training.config import match_config
from neuron.training.match import encode_all

SCORES = ("softmax", "energy", "mahalanobis", "nearest clip")
FOLDS = ("validation", "main")


def encoder_outputs(model: ZeroShotModel, run_data, rows, config) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """(pooled features (N, 256), the encoder classifier's logits (N, S), labels (N,)) of the clips
    at manifest `rows`, whole clips resized, computed as the matching stage computes them."""
    feeder = SkeletonFeeder(run_data.load(rows), window=config.window)  # labels = dataset labels
    maps = encode_all(model.features, feeder, config, torch.device("cpu"), desc="encode")  # (N, C, T', V)
    return maps.mean(dim=(2, 3)), model.seen_logits(maps), feeder.labels


def gate_scores(train: torch.Tensor, train_labels: np.ndarray, clips: torch.Tensor, logits: torch.Tensor) -> dict:
    """{score name: (N,) higher = more likely a seen class} for `clips` (N, 256) with the encoder
    classifier's `logits` (N, S)."""
    logits = logits.double()
    X, E = train.double().numpy(), clips.double().numpy()
    classes = np.unique(train_labels)
    means = np.stack([X[train_labels == c].mean(axis=0) for c in classes])
    precision = LedoitWolf().fit(X - means[np.searchsorted(classes, train_labels)]).precision_
    distances = np.stack([np.einsum("nd,de,ne->n", E - m, precision, E - m) for m in means], axis=1)
    unit = torch.nn.functional.normalize
    return {"softmax": logits.softmax(dim=1).max(dim=1).values.numpy(),
            "energy": torch.logsumexp(logits, dim=1).numpy(),
            "mahalanobis": -distances.min(axis=1),
            "nearest clip": (unit(clips, dim=1) @ unit(train, dim=1).T).max(dim=1).values.numpy()}


def fold_scores(dataset: str, split: str, benchmark, fold: str, seed: int) -> tuple[dict, np.ndarray, np.ndarray]:
    """Every gate score of the fold's evaluation clips (in record order), their labels and which are seen."""
    run = Run(dataset, split, benchmark, fold=fold)
    config = match_config(dataset, progress=False)
    data = run.data(config.val_fraction, config.pseudo_unseen_fraction)
    encoder, _ = load_encoder(run.encoder_dir(seed) / ENCODER_FILE)
    model = ZeroShotModel(encoder, torch.nn.Identity()).eval()  # no head: the encoder's own outputs
    train, _, train_labels = encoder_outputs(model, data, data.fold.train_rows, config)
    clips, logits, labels = encoder_outputs(model, data, data.fold.eval_rows, config)
    return gate_scores(train, train_labels, clips, logits), labels, np.isin(labels, data.fold.train_classes)


def gated_with(records: list, score: np.ndarray, labels: np.ndarray) -> list:
    if not all(np.array_equal(r.labels, labels) for r in records):
        raise ValueError("the records' clips are not the fold's evaluation clips in order")
    return [replace(r, encoder_confidence=score) for r in records]


def mean_std(values) -> str:
    spread = f" ± {100 * np.std(values, ddof=1):.1f}" if len(values) > 1 else ""
    return f"{100 * np.mean(values):.1f}{spread}"


def main() -> None:
    args = parse_run_arguments(__doc__.split("\n")[0])
    scores = {}  # (split, seed, fold) -> (scores, labels, is_seen)
    for split in args.splits:
        for seed in args.seeds:
            for fold in FOLDS:
                scores[split, seed, fold] = fold_scores(args.dataset, split, args.benchmark, fold, seed)

    print("AUROC of seen against unseen clips (%, mean ± std over the encoders: splits x seeds)\n")
    print("| score | validation fold | test set |")
    print("| --- | ---: | ---: |")
    for name in SCORES:
        auroc = {fold: [roc_auc_score(seen, found[name]) for (_, _, f), (found, _, seen) in scores.items()
                        if f == fold] for fold in FOLDS}
        print(f"| {name} | {mean_std(auroc['validation'])} | {mean_std(auroc['main'])} |")

    # gated[run][score][split] = [(test accuracies, AUSUC) of each seed]
    gated = {run: {name: {s: [] for s in args.splits} for name in SCORES} for run in args.runs}
    for split, run, seed in itertools.product(args.splits, args.runs, args.seeds):
        records = load_run(args.dataset, split, seeded_name(run, seed), args.benchmark)
        for name in SCORES:
            (v_scores, v_labels, _), (m_scores, m_labels, _) = (scores[split, seed, f] for f in FOLDS)
            result = strict_protocol(gated_with(records["validation"], v_scores[name], v_labels),
                                     gated_with(records["test"], m_scores[name], m_labels))["gated"]
            gated[run][name][split].append((result["gzsl"], result["ausuc"]))

    print("\nStrict gated GZSL on the test set (%, threshold and epoch chosen on the validation fold; "
          "S / U per split: mean over seeds)\n")
    print("| model | score | " + " | ".join(f"{s} S / U" for s in args.splits)
          + f" | mean H | mean AUSUC | splits with S, U >= {100 * TARGET:.0f} |")
    print("| --- | --- | " + " | ".join("---" for _ in args.splits) + " | ---: | ---: | ---: |")
    for run in args.runs:
        for name in SCORES:
            per_split = gated[run][name]
            means = {s: {k: np.mean([g[k] for g, _ in per_split[s]]) for k in ("seen", "unseen", "harmonic")}
                     for s in args.splits}
            ausuc = np.mean([a for s in args.splits for _, a in per_split[s]])
            reached = sum(m["seen"] >= TARGET and m["unseen"] >= TARGET for m in means.values())
            print(f"| {run} | {name} | "
                  + " | ".join(f"{100 * m['seen']:.1f} / {100 * m['unseen']:.1f}" for m in means.values())
                  + f" | {100 * np.mean([m['harmonic'] for m in means.values()]):.1f} | {100 * ausuc:.1f} "
                  f"| {reached} of {len(means)} |")


if __name__ == "__main__":
    main()
