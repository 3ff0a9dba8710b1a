"""Stage 2: train a matching head (Neuron or the global baseline) on a frozen encoder.

The encoder's parameters never change (requires_grad False, not in the optimiser). Its
BatchNorm layers follow `MatchConfig.encoder_bn_train`: True (official) normalises with
batch statistics and keeps updating the running averages during training, so the encoder's
buffers are saved with the head; False keeps the encoder a fixed function.

Text features: {"spatial": (P, K, N_a, D), "temporal": (P, K, N_a, D)} for ALL K classes of
the dataset in label order (a dict of arrays, or a `neuron.text.save_text_features` file). Training scores
the fold's seen classes only (the text sliced to them, labels re-indexed); evaluation
scores every class, and per epoch the decisions of the fold's evaluation samples are
stored (records/epoch_NNN.npz) for `neuron.evaluation`.
"""

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from neuron.data.feeder import SkeletonFeeder
from neuron.device import resolve_device
from neuron.errors import UserError
from neuron.evaluation.metrics import fused_scores
from neuron.evaluation.records import epoch_record, save_record
from neuron.models.neuron import STREAMS, matching_loss
from neuron.models.zero_shot import MATCH_FORMAT, ZeroShotModel, build_head, text_features_for
from neuron.runs import (
    ENCODER_FILE,
    HELDOUT_RECORDS,
    MATCH_FILE,
    RECORDS_DIR,
    Run,
    RunData,
    save_model_file,
    seeded_name,
)
from neuron.training import distributed
from neuron.training.config import ADDED_FIELDS, MatchConfig, for_fold, match_config
from neuron.training.official_encoder import load_run_encoder
from neuron.training.pretrain import pretrain_or_reuse
from neuron.training.runtime import (
    Stopwatch,
    autocast,
    epoch_means,
    eval_loader,
    load_checkpoint,
    maybe_compile,
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


def train_matching(run: Run, text, *, model: str = "neuron", head_kwargs: Mapping | None = None,
                   config: MatchConfig | None = None, encoder_path=None, out_dir=None, resume: bool = False) -> Path:
    """Train `model` ("neuron" or "global") on the frozen encoder of `run`'s fold ("main" or
    "validation").

    text: description features of every class of the dataset (see `text_features_for`; for a
    configuration, `neuron.training.text.description_features`), made by config.text_encoder, which
    match.pt records so that `predict` encodes new class descriptions the same way. head_kwargs:
    NeuronHead/GlobalBaseline options. The run's folder is `run.name`, by default `model` (see `seeded_name`).
    encoder_path: default the fold's own encoder.pt (same seed and recipe); the validation fold may
    use the main fold's encoder instead (cheaper; that encoder has seen the pseudo-unseen classes,
    which results.json then records, and, where the validation fold holds out whole subjects, most
    of its held-out clips); also a state dict saved by the official pretraining code
    (`official_encoder`). config: defaults from `match_config(run.dataset)`.
    Writes to out_dir (default the run's folder, `Run.match_dir`):
    match.pt (last epoch), checkpoint.pt, metrics.csv, records/epoch_NNN.npz. Returns out_dir.
    Under torchrun: the head trains data-parallel over the processes (`neuron.training.distributed`),
    rank 0 evaluating and writing.
    """
    config = for_fold(config or match_config(run.dataset), run.fold)
    device = distributed.setup(resolve_device(config.device), config.batch_size)
    config = replace(config, progress=config.progress and distributed.is_main())  # one set of bars
    with distributed.main_first():  # rank 0 prepares a dataset on first use
        data = run.data(config.val_fraction, config.pseudo_unseen_fraction)
    out_dir = Path(out_dir) if out_dir is not None else run.match_dir(seeded_name(model, config.seed, config.recipe))
    out_dir.mkdir(parents=True, exist_ok=True)
    fold_ = data.fold
    text = text_features_for(text, data.split.class_names)
    encoder_path = (Path(encoder_path) if encoder_path is not None  # else the same seed's and recipe's encoder
                    else run.encoder_dir(config.seed, config.recipe) / ENCODER_FILE)
    encoder, encoder_meta = load_run_encoder(encoder_path, data, config.val_fraction)
    _check_encoder(encoder_meta, data, config, encoder_path)

    seed_everything(config.seed)
    head = build_head(model, text["spatial"].shape[-1], head_kwargs, config.description_topk, config.logit_scale)
    net = ZeroShotModel(encoder, head).to(device)
    if config.encoder_bn_train:  # the encoder normalises each training batch: under torchrun, the global one
        distributed.sync_batchnorm(net.encoder, device)
    optimizer = sgd(head, config)  # only the head learns
    scheduler = step_schedule(optimizer, config)
    text_all = {s: t.to(device) for s, t in text.items()}
    text_train = {s: t[:, list(fold_.train_classes)] for s, t in text_all.items()}

    train_feeder = SkeletonFeeder(data.load(fold_.train_rows), fold_.train_classes, window=config.window,
                                  random_crop=True, random_rotation=True, seed=config.seed,
                                  raw=True)  # augmented per batch on the device: training_batches
    eval_rows = np.union1d(fold_.eval_rows, fold_.heldout_rows)
    eval_feeder = SkeletonFeeder(data.load(eval_rows), window=config.window,  # labels = dataset labels
                                 random_crop=config.test_augmentation, random_rotation=config.test_augmentation,
                                 seed=config.seed)  # never set_epoch: the same draw every epoch
    record_at, heldout_at = np.searchsorted(eval_rows, fold_.eval_rows), np.searchsorted(eval_rows, fold_.heldout_rows)

    history, start = [], 0
    identity = run_identity(config, dataset=data.name, benchmark=data.benchmark, split=data.split.name,
                            fold=fold_.name, holdout=fold_.holdout, model=model, head_kwargs=dict(head_kwargs or {}),
                            encoder_sha256=hashlib.sha256(encoder_path.read_bytes()).hexdigest(),
                            text_sha256=text_sha256(text))
    state = load_checkpoint(out_dir, identity, resume=resume)
    if state is not None:
        restore_checkpoint(state, net, optimizer, scheduler)
        history, start = state["history"], state["epoch"]
        if distributed.is_main():  # outputs derived from the checkpoint may predate it (a crash in between)
            write_metrics(out_dir, history)
            _write_match(out_dir / MATCH_FILE, net, model, head_kwargs, data, config, encoder_path, encoder_meta,
                         epochs_done=start)

    # The encoder's classifier gates GZSL (records.EpochRecord.gated) when it covers exactly the
    # fold's training classes: an encoder that also learnt the pseudo-unseen classes cannot gate them.
    gate = list(encoder_meta["classes"]) == list(fold_.train_classes)
    encode = maybe_compile(net.features, config.compile)
    train_score, score = train_and_eval_forward(head, device, config.compile)
    # A fixed encoder (BatchNorm in eval mode) maps each evaluation clip to the same features
    # every epoch: encode them once (same batches, so the logits are bit-identical). Rank 0 alone evaluates.
    net.encoder.train(config.encoder_bn_train)
    fixed_encoder, more_epochs = not config.encoder_bn_train, start < config.epochs
    eval_batches = (encode_all(encode, eval_feeder, config, device, desc="encode evaluation clips")
                    .split(config.eval_batch_size) if fixed_encoder and more_epochs and distributed.is_main()
                    else None)
    if config.cache_features and more_epochs:
        train_features = encode_all(encode, SkeletonFeeder(data.load(fold_.train_rows), fold_.train_classes,
                                                           window=config.window),
                                    config, device, desc="encode training clips")
        train_labels = torch.as_tensor(train_feeder.labels)
    for epoch in range(start, config.epochs):
        watch = Stopwatch()
        lr = optimizer.param_groups[0]["lr"]
        if config.cache_features:
            batches = feature_batches(train_features, train_labels, batch_size=config.batch_size,
                                      seed=config.seed, epoch=epoch)
        else:
            loader = train_loader(train_feeder, batch_size=config.batch_size, seed=config.seed, epoch=epoch,
                                  num_workers=config.num_workers)
            batches = encoded_batches(encode, training_batches(loader, train_feeder, device), device, config.amp)
        net.encoder.train(config.encoder_bn_train)
        head.train()
        loss, train_acc = train_one_epoch(train_score, batches, text_train, optimizer, device, config,
                                          total=len(train_feeder) // config.batch_size,
                                          desc=f"match {epoch + 1}/{config.epochs}")
        scheduler.step()
        if not distributed.is_main():
            continue  # rank 0 alone evaluates and writes
        net.eval()
        if eval_batches is None:  # the encoder's BatchNorm statistics moved: encode again
            loader = eval_loader(eval_feeder, batch_size=config.eval_batch_size, num_workers=config.num_workers)
            epoch_eval_batches = (f for f, _ in encoded_batches(encode, loader, device, config.amp))
        else:
            epoch_eval_batches = eval_batches
        logits = final_logits(score, epoch_eval_batches, text_all, device, config.amp, config.progress,
                              classify=net.seen_logits if gate else None)
        encoder_logits = logits.pop(ENCODER_LOGITS, None)
        labels = eval_feeder.labels
        records = [(out_dir / RECORDS_DIR, record_at)]
        if len(heldout_at):  # none when every seen training sample is trained on (val_fraction 0)
            records.append((out_dir / RECORDS_DIR / HELDOUT_RECORDS, heldout_at))
        for folder, at in records:
            save_record(folder, epoch_record(
                epoch + 1, {s: v[at] for s, v in logits.items()}, labels[at], train_classes=fold_.train_classes,
                eval_classes=fold_.eval_classes, unseen_classes=fold_.unseen_classes,
                encoder_logits=None if encoder_logits is None else encoder_logits[at]))
        history.append({"epoch": epoch + 1, "lr": lr, "loss": loss, "train_acc": train_acc,
                        "val_acc": heldout_accuracy({s: v[heldout_at] for s, v in logits.items()},
                                                    labels[heldout_at], fold_.train_classes),
                        "time_s": watch.seconds()})
        save_checkpoint(out_dir, epoch=epoch + 1, model=net, optimizer=optimizer, scheduler=scheduler,
                        history=history, identity=identity)
        write_metrics(out_dir, history)
        _write_match(out_dir / MATCH_FILE, net, model, head_kwargs, data, config, encoder_path, encoder_meta,
                     epochs_done=epoch + 1)
    distributed.barrier()  # every rank returns once rank 0's files are written
    return out_dir


def heldout_accuracy(logits: Mapping[str, np.ndarray], labels: np.ndarray, train_classes) -> float:
    """Accuracy of the fused prediction among the training classes on the held-out seen samples
    (NaN when there are none)."""
    if not len(labels):
        return float("nan")
    pred = np.asarray(train_classes)[fused_scores(list(logits.values()), train_classes).argmax(axis=1)]
    return float(np.mean(pred == labels))


def train_or_reuse(run: Run, text, *, model: str = "neuron", head_kwargs: Mapping | None = None,
                   config: MatchConfig, pretrain: Mapping | None = None, encoder_path=None) -> Path:
    """The matching run `run` (named as `train_matching` names it): reused when it has finished with
    `config`, continued when interrupted, trained when absent; its fold's encoder likewise
    (`pretrain_or_reuse` with the PretrainConfig overrides `pretrain`), unless `encoder_path` names
    one. The notebooks, the ablations and the analysis all get their runs here. Returns its folder."""
    if encoder_path is None:
        pretrain_or_reuse(run, **dict(pretrain or {}))
    return train_matching(run, text, model=model, head_kwargs=head_kwargs, config=config, encoder_path=encoder_path,
                          resume=True)


def text_sha256(text: Mapping) -> str:
    """Digest of description features {stream: (P, K, N_a, D)} (tensors or arrays; their float32
    bytes, in STREAMS order): the text a run was trained on, in its resume identity."""
    digest = hashlib.sha256()
    for stream in STREAMS:
        digest.update(np.ascontiguousarray(text[stream], dtype=np.float32).tobytes())
    return digest.hexdigest()


def train_one_epoch(score, batches, text, optimizer, device, config, total: int, desc) -> tuple[float, float]:
    """One pass of SGD over the head on `batches` of (encoder feature maps (B, C, T', V), labels (B,));
    returns (mean loss, fused final-phase accuracy)."""
    total_loss = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    count = 0
    for features, y in tqdm(batches, total=total, desc=desc, leave=False, disable=not config.progress):
        y = y.to(device, non_blocking=True)
        with autocast(device, config.amp):  # autocast computes cross-entropy in float32
            output = score(features, text)
            loss = matching_loss(output, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        fused = sum(F.softmax(v.float(), dim=1) for v in output.final_logits().values())
        total_loss += loss.detach() * len(y)
        correct += (fused.argmax(dim=1) == y).sum()
        count += len(y)
    return epoch_means(total_loss, correct, count)


@torch.no_grad()
def encode_all(encode, feeder: SkeletonFeeder, config: MatchConfig, device, desc: str) -> torch.Tensor:
    """The feature maps (N, C, T', V) of every clip of `feeder`, in order, as float32 on `device`
    (batches of config.eval_batch_size; memory: N * C * T' * V * 4 bytes)."""
    loader = eval_loader(feeder, batch_size=config.eval_batch_size, num_workers=config.num_workers)
    batches = encoded_batches(encode, tqdm(loader, desc=desc, leave=False, disable=not config.progress),
                              device, config.amp)
    return torch.cat([features.float() for features, _ in batches])


def encoded_batches(encode, loader, device, amp: bool):
    """(feature maps (B, C, T', V), labels (B,)) for each batch (x, labels, index) of `loader`."""
    for x, y, _ in loader:
        with autocast(device, amp):
            features = encode(x.to(device, non_blocking=True))
        yield features, y


def feature_batches(features: torch.Tensor, labels: torch.Tensor, *, batch_size: int, seed: int, epoch: int):
    """Shuffled batches (features (B, C, T', V), labels (B,)) of stored feature maps, the order a
    function of (seed, epoch) as in `train_loader`; the last incomplete batch is dropped. Under
    torchrun each process takes its B / world_size share of every batch."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(len(labels), generator=generator)
    for start in range(0, len(order) - batch_size + 1, batch_size):
        index = distributed.rank_share(order[start:start + batch_size])
        yield features[index.to(features.device)], labels[index]


ENCODER_LOGITS = "encoder"  # final_logits' key for the encoder classifier's logits


@torch.no_grad()
def final_logits(score, feature_batches_, text, device, amp: bool, progress: bool = False,
                 classify=None) -> dict[str, np.ndarray]:
    """Final-phase logits {stream: (N, K) float32} of every batch of feature maps, in order; with
    `classify` (ZeroShotModel.seen_logits) also the encoder classifier's, under ENCODER_LOGITS."""
    chunks = []
    for features in tqdm(feature_batches_, desc="evaluate", leave=False, disable=not progress):
        with autocast(device, amp):
            output = score(features, text)
            chunk = {s: v.float().cpu() for s, v in output.final_logits().items()}
            if classify is not None:
                chunk[ENCODER_LOGITS] = classify(features).float().cpu()
        chunks.append(chunk)
    return {s: torch.cat([c[s] for c in chunks]).numpy() for s in chunks[0]}


def _check_encoder(meta: dict, data: RunData, config: MatchConfig, path: Path) -> None:
    """The encoder must come from the same split and held-out samples, and cover the fold's
    training classes without ever having been trained on the split's unseen classes."""
    where = f"encoder {path}"
    if (meta["dataset"], meta["benchmark"], meta["split"]) != (data.name, data.benchmark, data.split.name):
        raise UserError(f"{where} was trained on {meta['dataset']}/{meta['benchmark']}/{meta['split']}, "
                        f"not {data.name}/{data.benchmark}/{data.split.name}")
    if meta["val_fraction"] != config.val_fraction:
        raise UserError(f"{where} held out val_fraction={meta['val_fraction']} of the samples, this run "
                        f"{config.val_fraction}: the held-out samples would differ")
    held_out = meta.get("holdout", ADDED_FIELDS["holdout"])  # as encoders written before it was recorded
    if meta["fold"] == data.fold.name and held_out != data.fold.holdout:
        raise UserError(f"{where} held out {held_out}, fold {data.fold.name} now holds out "
                        f"{data.fold.holdout}: pretrain its encoder again")
    leaked = sorted(set(meta["classes"]) & set(data.split.unseen))
    if leaked:
        raise UserError(f"{where} was trained on the unseen classes {leaked}")
    uncovered = sorted(set(data.fold.train_classes) - set(meta["classes"]))
    if uncovered:
        raise UserError(f"{where} was not trained on the classes {uncovered} of fold {data.fold.name}")
    if (meta["layout"], meta["num_persons"]) != (data.layout, data.num_persons):
        raise UserError(f"{where} expects layout {meta['layout']} with {meta['num_persons']} persons, "
                        f"the dataset has {data.layout} with {data.num_persons}")


def _write_match(path: Path, net: ZeroShotModel, model: str, head_kwargs, data: RunData, config: MatchConfig,
                 encoder_path: Path, encoder_meta: dict, epochs_done: int) -> None:
    fold_ = data.fold
    payload = {"format": MATCH_FORMAT, "model": model, "head_kwargs": dict(head_kwargs or {}),
               "text_dim": net.head.text_dim, "text_encoder": config.text_encoder,
               "encoder_classes": encoder_meta["classes"],
               "layout": data.layout, "num_persons": data.num_persons, "window": config.window,
               "state_dict": net.state_dict(), "dataset": data.name, "benchmark": data.benchmark,
               "split": data.split.name, "fold": fold_.name, "holdout": fold_.holdout,
               "train_classes": list(fold_.train_classes),
               "eval_classes": list(fold_.eval_classes), "unseen_classes": list(fold_.unseen_classes),
               "encoder_path": str(encoder_path), "encoder_fold": encoder_meta["fold"],
               "encoder_saw_unseen": bool(set(encoder_meta["classes"]) & set(fold_.unseen_classes)),
               "epochs_done": epochs_done, "config": config.to_dict()}
    save_model_file(path, payload)
