"""What both training stages share: device, seeds, data loaders, optimiser and schedule,
checkpoints that resume bit for bit, and the per-epoch metrics file. Under torchrun the
loaders, forwards and logged means come in their data-parallel form (`distributed`).

Resumable determinism. Everything random after model construction is keyed by
(seed, epoch): the shuffling order is drawn from a generator seeded with both, and the
feeder's augmentations from (seed, epoch, sample). A checkpoint written after epoch e holds
the model, optimiser (momentum buffers), scheduler, global RNG states and the metrics
history, so a run resumed from it computes epochs e+1.. exactly as an uninterrupted run
(bit for bit on CPU; CUDA kernels with atomics, e.g. index_select's backward, are not
bit-reproducible even without a resume).
"""

import contextlib
import logging
import random
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, RandomSampler

from neuron.atomic import atomic_path
from neuron.data.batch_augment import augment_batch, draw_batch
from neuron.data.feeder import SkeletonFeeder
from neuron.errors import DamagedFileError, ExistingOutputError, UserError
from neuron.runs import read_torch_file, save_torch_file
from neuron.training import distributed
from neuron.training.config import ADDED_FIELDS, decay_pattern, resume_relevant

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.csv"

log = logging.getLogger(__name__)  # the command line shows its INFO messages; notebooks and tests do not


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def rng_state() -> dict:
    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state["numpy"] = (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss)
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on `device` when enabled, else a no-op context."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def maybe_compile(fn, enabled: bool):
    """torch.compile(fn) when enabled (state dicts stay those of the original modules)."""
    return torch.compile(fn) if enabled else fn


def train_and_eval_forward(module: nn.Module, device: torch.device, compile_: bool):
    """(training forward, evaluation forward) of `module` (on `device`), compiled when `compile_`.
    In one process both are the module itself. Under torchrun training goes through a
    DistributedDataParallel replica, and evaluation, which rank 0 runs alone, through the bare
    module: DDP's forward would wait for the other ranks."""
    evaluate = maybe_compile(module, compile_)
    if distributed.world_size() == 1:
        return evaluate, evaluate
    return maybe_compile(distributed.replicate(module, device), compile_), evaluate


def train_loader(feeder: SkeletonFeeder, *, batch_size: int, seed: int, epoch: int, num_workers: int) -> DataLoader:
    """Shuffled batches of one epoch, the order and augmentations a function of (seed, epoch).
    The last incomplete batch is dropped (official; BatchNorm needs more than one sample).
    Under torchrun each process loads its batch_size / world_size share of every batch."""
    if len(feeder) < batch_size:
        raise UserError(f"{len(feeder)} training samples are fewer than one batch of {batch_size}; "
                        f"lower batch_size")
    feeder.set_epoch(epoch)
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    # DataLoader(shuffle=True) spelled out so each rank can take its share of a batch. As there,
    # the loader draws its workers' base seed from `generator` before the sampler draws the order.
    batches = BatchSampler(RandomSampler(feeder, generator=generator), batch_size, drop_last=True)
    return DataLoader(feeder, batch_sampler=distributed.RankBatches(batches), generator=generator,
                      num_workers=num_workers, persistent_workers=False)


def training_batches(loader: DataLoader, feeder: SkeletonFeeder, device: torch.device):
    """(x (B, 3, window, V, M), labels (B,), index (B,)) on `device` from a `train_loader` over
    `feeder`, a raw training feeder (SkeletonFeeder(raw=True)): the stored clips are cropped, resized and
    rotated on `device` as one batch (neuron.data.batch_augment), exactly as the feeder would
    one by one, so the loader's workers only gather clips."""
    for x, y, index in loader:
        x = augment_batch(x.to(device, non_blocking=True), draw_batch(feeder, index))
        yield x, y.to(device, non_blocking=True), index


def eval_loader(feeder: SkeletonFeeder, *, batch_size: int, num_workers: int) -> DataLoader:
    return DataLoader(feeder, batch_size=batch_size, shuffle=False, num_workers=num_workers)


def epoch_means(loss_sum: torch.Tensor, correct: torch.Tensor, count: int) -> tuple[float, float]:
    """(mean loss, accuracy) of a training epoch from this process's sums over its samples: the
    summed per-sample loss, the number right and the number seen. Under torchrun the sums are
    added over the ranks first, so every rank gets the numbers of the whole epoch."""
    loss_sum, correct, count = distributed.all_sum(loss_sum, correct, torch.tensor(count, device=loss_sum.device))
    return loss_sum.item() / count.item(), correct.item() / count.item()


def parameter_decays(model: torch.nn.Module, config) -> dict[str, float]:
    """{parameter name: weight decay} of the trainable parameters: the decay of the first
    (pattern, decay) of `config.weight_decay_groups` whose pattern the name contains, else
    config.weight_decay (the official pretraining: Linear_weight 1e-3, Mask 0, the rest 1e-4)."""
    rules = dict(getattr(config, "weight_decay_groups", ()))
    return {name: rules.get(decay_pattern(name, rules), config.weight_decay)
            for name, p in model.named_parameters() if p.requires_grad}



def sgd(model: torch.nn.Module, config) -> torch.optim.SGD:
    """SGD nesterov over `model`'s trainable parameters, one group per weight decay (`parameter_decays`)."""
    decays, params = parameter_decays(model, config), dict(model.named_parameters())
    groups = [{"params": [params[n] for n, d in decays.items() if d == decay], "weight_decay": decay}
              for decay in dict.fromkeys(decays.values())]
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=True)


def step_schedule(optimizer, config) -> torch.optim.lr_scheduler.MultiStepLR:
    """lr x lr_decay once `milestone` epochs are done, for each milestone (stepped per epoch)."""
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(config.milestones),
                                                gamma=config.lr_decay)


def save_checkpoint(out_dir, *, epoch: int, model, optimizer, scheduler, history: list, identity: dict,
                    **extra) -> None:
    """Everything a resumed run needs after `epoch` epochs (plus `extra` entries), written atomically."""
    state = {"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict(), "rng": rng_state(), "history": history,
             "identity": identity, **extra}
    save_torch_file(state, Path(out_dir) / CHECKPOINT)


def restore_checkpoint(state: dict, model, optimizer, scheduler) -> None:
    """Put a save_checkpoint state back into the model, optimiser, scheduler and RNGs."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"])


def run_identity(config, **facts) -> dict:
    """What a resumed run must agree on: the configuration fields that change the result
    (`resume_relevant`) and `facts` (data, split, fold, model, inputs)."""
    return {**resume_relevant(config), **facts}


def load_checkpoint(out_dir, identity: dict, *, resume: bool) -> dict | None:
    """The checkpoint to continue from, or None to start afresh.

    Without `resume` an existing checkpoint is an error (a finished or interrupted run is
    never overwritten silently). With it, the checkpoint's `identity` (`run_identity`) must
    equal `identity`.
    """
    path = Path(out_dir) / CHECKPOINT
    if not path.exists():
        if resume:
            log.info(f"no checkpoint in {out_dir}: starting afresh")
        return None
    if not resume:
        raise ExistingOutputError(f"{path} exists (pass --resume to continue that run, or remove {out_dir} "
                                  f"to start again)")
    state = read_torch_file(path, "delete it and rerun to start the run afresh")
    if not isinstance(state, dict) or not isinstance(state.get("identity"), dict):
        raise DamagedFileError(f"{path} is not a checkpoint of this project (delete it and rerun to start afresh)")
    stored = state["identity"]
    # A checkpoint written before a field existed ran with that field's ADDED_FIELDS value.
    differ = {k: (stored.get(k), v) for k, v in identity.items() if stored.get(k, ADDED_FIELDS.get(k)) != v}
    if differ:
        raise UserError(f"{path} was written with another configuration; (stored, requested): {differ} (rerun "
                        f"with the stored settings, or remove {out_dir} to start again)")
    return state


def write_metrics(out_dir, history: list[dict]) -> None:
    with atomic_path(Path(out_dir) / METRICS) as tmp:
        pd.DataFrame(history).to_csv(tmp, index=False)


class Stopwatch:
    def __init__(self):
        self.start = time.perf_counter()

    def seconds(self) -> float:
        return round(time.perf_counter() - self.start, 3)
