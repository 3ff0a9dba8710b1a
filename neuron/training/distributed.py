"""Data-parallel training over W processes launched by torchrun (one per GPU on the nccl
backend, or CPU processes on gloo), computing what one process computes with the same
global batch size B, up to the order of float sums:

    torchrun --nproc_per_node 4 -m neuron pretrain --dataset ntu60 ...

- Data: every rank draws the same shuffled order of the epoch (the single-process one) and
  loads a contiguous B / W share of each global batch (`RankBatches`, `rank_share`), so the
  union over the ranks of batch i is batch i of a single process.
- Gradients: DistributedDataParallel (`replicate`) averages the ranks' gradients of their
  mean losses, which is the gradient of the mean loss over the global batch.
- BatchNorm (the encoder's in pretraining, and in matching with `encoder_bn_train`): on CUDA
  SyncBatchNorm normalises with the statistics of the global batch. It rejects CPU tensors
  (torch 2.13: "SyncBatchNorm expected input tensor to be on GPU"), so over CPU processes each
  rank normalises with its own B / W samples and BatchNorm training differs from a single
  process (a warning says so).
- Logging: the loss and accuracy sums are added over the ranks (`all_sum`).
- Files: rank 0 alone evaluates and writes (`is_main`); the others wait (`barrier`). Every
  rank reads the checkpoint on resume, so the output directory must be one shared filesystem
  (one machine, or a shared mount).

Without torchrun (no WORLD_SIZE in the environment) there is no process group and every
function here is the single-process identity: world size 1, rank 0, no communication.
"""

import atexit
import os
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import BatchSampler, Sampler

from neuron.errors import UserError

# Rank 0 evaluates alone while the other ranks wait in their next collective; a whole test set
# must fit in this time (torch's default for nccl is 10 minutes).
TIMEOUT = timedelta(minutes=30)
BATCHNORM = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def launched_by_torchrun() -> bool:
    return "WORLD_SIZE" in os.environ


def setup(device: torch.device, global_batch: int) -> torch.device:
    """This process's device for training in global batches of `global_batch` samples.

    Under torchrun, also join the process group (once per process; left at exit): nccl for a
    CUDA `device`, which becomes GPU LOCAL_RANK, gloo for the CPU. Raises ValueError when the
    global batch does not split evenly over the processes. Without torchrun: `device`.
    """
    if not launched_by_torchrun():
        return device
    if device.type == "cuda":
        if device.index is not None:
            raise UserError(f"under torchrun each process uses the GPU of its LOCAL_RANK: pass the device "
                            f"'cuda' or 'auto', not {device}")
        local_rank = _env_int("LOCAL_RANK")
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} GPUs are visible: "
                               f"start at most that many processes per node")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    elif device.type != "cpu":
        raise UserError(f"distributed training runs on CUDA (nccl) or the CPU (gloo), not on {device}")
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=TIMEOUT, device_id=device if device.type == "cuda" else None)
        atexit.register(cleanup)
    elif dist.get_backend() != backend:
        raise RuntimeError(f"this process already trains on the {dist.get_backend()} backend; {device} needs {backend}")
    share_size(global_batch)
    return device


def cleanup() -> None:
    """Leave the process group (registered at exit by `setup`; safe to call twice)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def _env_int(name: str) -> int:
    if name not in os.environ:
        raise RuntimeError(f"WORLD_SIZE is set (a torchrun launch) but {name} is not; start with torchrun")
    return int(os.environ[name])


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main() -> bool:
    """Whether this process is rank 0, the one that evaluates and writes files."""
    return not dist.is_initialized() or dist.get_rank() == 0


def barrier() -> None:
    """Wait until every rank gets here."""
    if world_size() > 1:
        dist.barrier()


@contextmanager
def main_first():
    """Run the block on rank 0 first, then on the other ranks: for work whose side effects the
    later ranks then find done, such as preparing a dataset on first use."""
    if not is_main():
        barrier()
    yield
    if is_main():
        barrier()


def share_size(global_batch: int, world: int | None = None) -> int:
    """Samples per rank of a global batch: global_batch / world (default: this run's world size)."""
    world = world_size() if world is None else world
    if global_batch % world:
        raise UserError(f"batch size {global_batch} does not split over {world} processes (each takes "
                        f"batch_size / {world} samples of every batch): choose a multiple of {world}")
    return global_batch // world


def rank_share(batch: Sequence | torch.Tensor, rank: int | None = None, world: int | None = None):
    """Rank `rank`'s contiguous share of a global `batch` (a list or tensor of sample indices):
    len(batch) / world of them. Defaults: this process's rank and this run's world size."""
    rank = (dist.get_rank() if dist.is_initialized() else 0) if rank is None else rank
    size = share_size(len(batch), world)
    return batch[rank * size:(rank + 1) * size]


class RankBatches(Sampler[list[int]]):
    """A batch sampler yielding, for each global batch of `batches`, the share of rank `rank`
    (default: this process's) among `world` ranks (default: this run's)."""

    def __init__(self, batches: BatchSampler, rank: int | None = None, world: int | None = None):
        self.batches, self.rank, self.world = batches, rank, world
        share_size(batches.batch_size, world)  # fail here, not at the first batch

    def __iter__(self):
        for batch in self.batches:
            yield rank_share(batch, self.rank, self.world)

    def __len__(self) -> int:
        return len(self.batches)


def all_sum(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The tensors, each summed in place over the ranks (unchanged in a single process)."""
    if world_size() > 1:
        for tensor in tensors:
            dist.all_reduce(tensor)
    return tensors


def sync_batchnorm(module: nn.Module, device: torch.device) -> None:
    """Make the BatchNorm layers inside `module` (not itself one) normalise with the statistics
    of the global batch, in place, when training over several CUDA processes. Over CPU processes
    this is impossible (see the module docstring): warn that the result differs."""
    if world_size() == 1 or not any(isinstance(m, BATCHNORM) for m in module.modules()):
        return
    if device.type == "cuda":
        nn.SyncBatchNorm.convert_sync_batchnorm(module)  # same parameter and buffer tensors
    elif is_main():
        warnings.warn(f"SyncBatchNorm needs CUDA: each of the {world_size()} CPU processes normalises "
                      f"{type(module).__name__}'s BatchNorm layers with its own share of the batch, so "
                      f"the result differs from a single process", stacklevel=2)


def replicate(module: nn.Module, device: torch.device) -> DistributedDataParallel:
    """`module` (on `device`) wrapped to train on every rank: DistributedDataParallel averages its
    gradients over the ranks; its BatchNorm layers are synchronised (`sync_batchnorm`). Its
    state_dict stays that of `module`, which holds the same tensors."""
    sync_batchnorm(module, device)
    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)
