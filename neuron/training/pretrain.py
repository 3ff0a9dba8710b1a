"""Stage 1: pretrain the Shift-GCN encoder as a classifier of the fold's seen classes.

Labels are re-indexed (training class i = fold.train_classes[i]); the real unseen classes
are never seen. A stratified share of each seen class's training samples is held out, and
the epoch with the best held-out accuracy (the earliest on ties) is kept as `encoder.pt`;
the official recipe trains on every sample and keeps the best epoch on the seen classes' test
samples instead (`PretrainConfig.encoder_selection`).
Official recipe (NTU/PKU): SGD nesterov, lr 0.1, weight decay 1e-4, lr x0.1 at epochs
60/80/100, 110 epochs, batch 64, 64-frame clips with random crop and rotation.
"""

from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from neuron.data.feeder import SkeletonFeeder
from neuron.data.store import read_manifest, select_rows
from neuron.device import resolve_device
from neuron.errors import DamagedFileError, MissingInputError, UserError
from neuron.models.shift_gcn import ShiftGCN
from neuron.models.zero_shot import ENCODER_FORMAT, load_encoder
from neuron.runs import ENCODER_FILE, Run, RunData, read_torch_file, save_model_file
from neuron.training import distributed
from neuron.training.config import (
    ADDED_FIELDS,
    PretrainConfig,
    for_fold,
    pretrain_config,
    recipe_values,
    resume_relevant,
)
from neuron.training.runtime import (
    Stopwatch,
    autocast,
    epoch_means,
    eval_loader,
    load_checkpoint,
    restore_checkpoint,
    run_identity,
    save_checkpoint,
    seed_everything,
    sgd,
    step_schedule,
    train_and_eval_forward,
    train_loader,
    training_batches,
    write_metrics,
)


def pretrain_encoder(run: Run, config: PretrainConfig | None = None, *, out_dir=None, resume: bool = False) -> Path:
    """Pretrain Shift-GCN on the seen classes of `run`'s fold ("main": the split's seen classes;
    "validation": its pseudo-seen classes).

    config: defaults from `pretrain_config(run.dataset)`. out_dir: default `run.encoder_dir` (encoder/,
    encoder_official/, encoder_s<seed>/, ...). resume: continue the
    run checkpointed in out_dir (an existing checkpoint without resume is an error).
    Writes encoder.pt (best held-out epoch), checkpoint.pt (last epoch), metrics.csv;
    returns the path of encoder.pt. Under torchrun: data-parallel over the processes
    (`neuron.training.distributed`), rank 0 writing.
    """
    config = for_fold(config or pretrain_config(run.dataset), run.fold)
    device = distributed.setup(resolve_device(config.device), config.batch_size)
    config = replace(config, progress=config.progress and distributed.is_main())  # one set of bars
    with distributed.main_first():  # rank 0 prepares a dataset on first use
        data = run.data(config.val_fraction)
    out_dir = Path(out_dir) if out_dir is not None else run.encoder_dir(config.seed, config.recipe)
    out_dir.mkdir(parents=True, exist_ok=True)
    classes = data.fold.train_classes

    seed_everything(config.seed)
    train_feeder = SkeletonFeeder(data.load(data.fold.train_rows), classes, window=config.window,
                                  random_crop=True, random_rotation=True, seed=config.seed,
                                  raw=True)  # augmented per batch on the device: training_batches
    val_feeder = SkeletonFeeder(data.load(selection_rows(data, config)), classes, window=config.window,
                                random_crop=config.test_augmentation, random_rotation=config.test_augmentation,
                                seed=config.seed)  # never set_epoch: the same draw every epoch
    model = ShiftGCN(len(classes), layout=data.layout, num_persons=data.num_persons).to(device)
    optimizer = sgd(model, config)
    scheduler = step_schedule(optimizer, config)
    history, best, start = [], {"epoch": 0, "val_acc": -1.0, "model": None}, 0

    identity = run_identity(config, dataset=data.name, benchmark=data.benchmark, split=data.split.name,
                            fold=data.fold.name, holdout=data.fold.holdout, classes=list(classes))
    state = load_checkpoint(out_dir, identity, resume=resume)
    if state is not None:
        restore_checkpoint(state, model, optimizer, scheduler)
        history, best, start = state["history"], state["best"], state["epoch"]
        if distributed.is_main():  # outputs derived from the checkpoint may predate it (a crash in between)
            write_metrics(out_dir, history)
            # An encoder.pt already written at this epoch stays byte for byte: matching runs record
            # its hash, and a rewrite by newer code (same weights, more metadata) would orphan them.
            if _written_epochs(out_dir / ENCODER_FILE) != start:
                _write_encoder(out_dir / ENCODER_FILE, best, data, config, epochs_done=start)

    train_forward, forward = train_and_eval_forward(model, device, config.compile)
    for epoch in range(start, config.epochs):
        watch = Stopwatch()
        lr = optimizer.param_groups[0]["lr"]
        loader = train_loader(train_feeder, batch_size=config.batch_size, seed=config.seed, epoch=epoch,
                              num_workers=config.num_workers)
        model.train()
        loss, train_acc = _train_epoch(train_forward, training_batches(loader, train_feeder, device),
                                       len(train_feeder) // config.batch_size, optimizer, device, config,
                                       desc=f"pretrain {epoch + 1}/{config.epochs}")
        scheduler.step()
        if not distributed.is_main():
            continue  # rank 0 alone evaluates and writes
        model.eval()
        val_acc = _accuracy(forward, eval_loader(val_feeder, batch_size=config.batch_size,
                                                 num_workers=config.num_workers), device, config.amp)
        if val_acc > best["val_acc"]:
            best = {"epoch": epoch + 1, "val_acc": val_acc,
                    "model": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}
        history.append({"epoch": epoch + 1, "lr": lr, "loss": loss, "train_acc": train_acc, "val_acc": val_acc,
                        "time_s": watch.seconds()})
        save_checkpoint(out_dir, epoch=epoch + 1, model=model, optimizer=optimizer, scheduler=scheduler,
                        history=history, identity=identity, best=best)
        write_metrics(out_dir, history)
        _write_encoder(out_dir / ENCODER_FILE, best, data, config, epochs_done=epoch + 1)
    distributed.barrier()  # every rank returns once rank 0's files are written
    return out_dir / ENCODER_FILE


def selection_rows(data: RunData, config: PretrainConfig):
    """The samples the encoder's epoch is chosen on: the fold's held-out seen samples, or (official)
    the test-part samples of the seen classes."""
    if config.encoder_selection == "heldout":
        return data.fold.heldout_rows
    if data.fold.name != "main":
        raise UserError(f"encoder_selection=test needs the main fold's test samples; fold {data.fold.name} has none "
                        "of its own")
    return select_rows(read_manifest(data.path), benchmark=data.benchmark, part="test", classes=data.fold.train_classes)


def _train_epoch(forward, batches, num_batches: int, optimizer, device, config, desc) -> tuple[float, float]:
    """One pass of SGD over `batches` (see training_batches); returns (mean loss, accuracy) over the epoch's samples."""
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    count = 0
    for x, y, _ in tqdm(batches, total=num_batches, desc=desc, leave=False, disable=not config.progress):
        with autocast(device, config.amp):
            logits = forward(x)
        loss = F.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total_loss += loss.detach() * len(y)
        correct += (logits.argmax(dim=1) == y).sum()
        count += len(y)
    return epoch_means(total_loss, correct, count)


@torch.no_grad()
def _accuracy(forward, loader, device, amp: bool) -> float:
    correct, count = 0, 0
    for x, y, _ in loader:
        with autocast(device, amp):
            logits = forward(x.to(device))
        correct += (logits.argmax(dim=1).cpu() == y).sum().item()
        count += len(y)
    return correct / count


def _written_epochs(path: Path) -> int | None:
    """epochs_done of the encoder.pt at `path`; None when there is none or it cannot be read."""
    try:
        payload = read_torch_file(path, "it is written again")
    except (MissingInputError, DamagedFileError):
        return None
    return payload.get("epochs_done") if isinstance(payload, dict) else None


def _write_encoder(path: Path, best: dict, data: RunData, config: PretrainConfig, epochs_done: int) -> None:
    payload = {"format": ENCODER_FORMAT, "state_dict": best["model"], "classes": list(data.fold.train_classes),
               "layout": data.layout, "num_persons": data.num_persons, "dataset": data.name,
               "benchmark": data.benchmark, "split": data.split.name, "fold": data.fold.name,
               "holdout": data.fold.holdout, "val_fraction": config.val_fraction, "epoch": best["epoch"],
               "val_acc": best["val_acc"], "epochs_done": epochs_done, "config": config.to_dict()}
    save_model_file(path, payload)


def seen_accuracy(encoder_path, run: Run, *, batch_size: int = 64, device: str = "auto") -> float:
    """Top-1 accuracy of the encoder in `encoder_path` (an encoder.pt) as a classifier of the
    classes it was trained on, over the TEST-part samples of those classes in its benchmark of
    `run`'s dataset (for the main fold's encoder: the seen classes' test samples). Clips are
    resized to the encoder's training window, as in its held-out evaluation. For reporting only:
    no choice is made on it."""
    encoder, meta = load_encoder(encoder_path)
    data = run.with_(fold=meta["fold"], benchmark=meta["benchmark"]).data(meta["val_fraction"])
    if (data.name, data.split.name) != (meta["dataset"], meta["split"]):
        raise UserError(f"encoder {encoder_path} was trained on {meta['dataset']}/{meta['split']}, "
                        f"not {data.name}/{data.split.name}")
    rows = select_rows(read_manifest(data.path), benchmark=data.benchmark, part="test", classes=meta["classes"])
    feeder = SkeletonFeeder(data.load(rows), meta["classes"], window=meta["config"]["window"])
    device = resolve_device(device)
    return _accuracy(encoder.to(device).eval(), eval_loader(feeder, batch_size=batch_size, num_workers=0),
                     device, amp=False)


def pretrain_or_reuse(run: Run, recipe: str = "project", **overrides) -> Path:
    """The encoder.pt of `run`'s fold in its folder: reused when the run there has finished,
    continued when it was interrupted, pretrained when there is none.

    The configuration is that run's own (its encoder.pt), or `pretrain_config(run.dataset, recipe)`
    when there is none; `recipe`'s values and `overrides` (PretrainConfig fields, None values
    ignored) apply on top. An
    override that changes what the existing run computes is an error (as `resume=True`), so
    the notebooks and the command line share encoders without retraining them. A finished
    run is returned untouched: matching runs identify their encoder by its file's bytes."""
    defaults = for_fold(pretrain_config(run.dataset, recipe, **overrides), run.fold)  # also checks names and values
    existing = run.encoder_dir(defaults.seed, defaults.recipe) / ENCODER_FILE
    config = defaults
    if existing.is_file():
        meta = load_encoder(existing)[1]
        stored = PretrainConfig(**meta["config"])
        given = {k: v for k, v in overrides.items() if v is not None}
        config = for_fold(replace(stored, **{**recipe_values(recipe, "pretrain"), **given}), run.fold)
        same_holdout = meta.get("holdout", ADDED_FIELDS["holdout"]) == run.data(config.val_fraction).fold.holdout
        if meta["epochs_done"] == stored.epochs and resume_relevant(config) == resume_relevant(stored) and same_holdout:
            return existing
    return pretrain_encoder(run, config, resume=True)
