"""Tests for data-parallel training under torchrun (neuron.training.distributed): the per-rank
shares of the batches, and two CPU processes on the gloo backend training the tiny dataset
of test_train.py against one process with the same global batch size.

The two processes are started once for the module (torch.multiprocessing.spawn, each given
the environment torchrun would give it) and run pretraining and two matching runs.
"""

import json
import os
import socket
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.multiprocessing as mp
from torch.utils.data import BatchSampler, DataLoader, RandomSampler

from neuron.data.feeder import SkeletonFeeder
from neuron.data.splits import Split
from neuron.data.store import load_dataset
from neuron.models.zero_shot import load_encoder
from neuron.runs import Run
from neuron.training import distributed
from neuron.training import pretrain as pretrain_module
from neuron.training.match import train_matching
from neuron.training.pretrain import pretrain_encoder
from neuron.training.runtime import train_loader
from test_train import HEAD, UNSEEN, K, m_config, make_text, pre_config, write_tiny_dataset

WORLD = 2
BATCH = 4  # global: 2 samples per process
TIME_LIMIT_S = 300  # a rank stuck in a collective would otherwise wait for the 30-minute timeout
MATCH_RUNS = {"augmented": {"cache_features": False}, "cached": {"cache_features": True}}

pytestmark = pytest.mark.usefixtures("single_thread")  # tests/conftest.py


# ---------------------------------------------------------------- shares of a batch


def test_one_process_loads_the_batches_of_a_shuffling_dataloader(tmp_path):
    """World size 1: exactly the order and augmentations of DataLoader(shuffle=True)."""
    feeder = SkeletonFeeder(load_dataset(write_tiny_dataset(tmp_path / "data")), window=12, random_crop=True,
                            random_rotation=True, seed=1)
    ours = list(train_loader(feeder, batch_size=5, seed=1, epoch=3, num_workers=0))
    generator = torch.Generator().manual_seed(1 * 1_000_003 + 3)
    reference = list(DataLoader(feeder, batch_size=5, shuffle=True, drop_last=True, generator=generator))
    assert len(ours) == len(reference) == len(feeder) // 5
    for (x, y, index), (x_ref, y_ref, index_ref) in zip(ours, reference):
        assert torch.equal(index, index_ref) and torch.equal(y, y_ref) and torch.equal(x, x_ref)


def test_the_ranks_shares_make_up_each_batch():
    def batches():
        return BatchSampler(RandomSampler(range(20), generator=torch.Generator().manual_seed(7)), 6, drop_last=True)

    whole = list(batches())
    shares = [list(distributed.RankBatches(batches(), rank=r, world=3)) for r in range(3)]
    assert all(len(s) == len(whole) == 3 for s in shares)
    for i, batch in enumerate(whole):
        assert [len(s[i]) for s in shares] == [2, 2, 2]
        assert sum((s[i] for s in shares), []) == batch  # rank order, contiguous
    order = torch.arange(10, 18)
    assert torch.equal(torch.cat([distributed.rank_share(order, r, 4) for r in range(4)]), order)
    assert torch.equal(distributed.rank_share(order), order)  # no process group: rank 0 of 1


def test_the_batch_must_split_over_the_processes():
    assert distributed.share_size(8, 4) == 2 and distributed.share_size(5) == 5  # no process group: one
    with pytest.raises(ValueError, match="batch size 5 does not split over 2 processes"):
        distributed.share_size(5, 2)
    with pytest.raises(ValueError, match="multiple of 3"):
        distributed.RankBatches(BatchSampler(range(10), 4, drop_last=True), rank=0, world=3)


# ---------------------------------------------------------------- two gloo processes against one


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tiny_split(data) -> Split:
    return Split.from_unseen(str(data), "4_2", UNSEEN, K)


def train_everything(root: Path, data, name: str) -> None:
    """Pretraining into root/<name>_encoder and the matching runs into root/<name>_<run>, all on
    the single-process encoder (so that the matching runs compare), in this process and its
    process group if any."""
    split = tiny_split(data)
    pretrain_encoder(Run(data, split), config=pre_config(data, batch_size=BATCH, epochs=1, milestones=()),
                     out_dir=root / f"{name}_encoder")
    for run, options in MATCH_RUNS.items():
        train_matching(Run(data, split), make_text(), head_kwargs=HEAD,
                       encoder_path=root / "single_encoder" / "encoder.pt",
                       config=m_config(data, batch_size=BATCH, epochs=2, milestones=(1,), **options),
                       out_dir=root / f"{name}_{run}")


def rank_worker(rank: int, port: int, root: str, data: str) -> None:
    """One of the torchrun-like processes. Also records, for the tests to compare the ranks, the
    pretrained network as this rank holds it (root/encoder_rank<r>.pt) and each global batch
    with this rank's share of it (root/shares_rank<r>.json)."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    trained, shares = [], []
    train_and_eval_forward, rank_share = pretrain_module.train_and_eval_forward, distributed.rank_share

    def keep_the_network(module, device, compile_):
        trained.append(module)
        return train_and_eval_forward(module, device, compile_)

    def keep_the_share(batch, *args):
        share = rank_share(batch, *args)
        shares.append([[int(i) for i in batch], [int(i) for i in share]])
        return share

    pretrain_module.train_and_eval_forward, distributed.rank_share = keep_the_network, keep_the_share
    root = Path(root)
    train_everything(root, data, "ddp")
    distributed.cleanup()
    torch.save(trained[0].state_dict(), root / f"encoder_rank{rank}.pt")
    (root / f"shares_rank{rank}.json").write_text(json.dumps(shares))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("distributed")
    data = write_tiny_dataset(root / "data")
    train_everything(root, data, "single")
    ranks = mp.spawn(rank_worker, args=(free_port(), str(root), str(data)), nprocs=WORLD, join=False)
    deadline = time.monotonic() + TIME_LIMIT_S
    while not ranks.join(timeout=1):  # raises if a rank failed
        if time.monotonic() > deadline:
            for process in ranks.processes:
                process.terminate()
            pytest.fail(f"the {WORLD} training processes did not finish in {TIME_LIMIT_S} s")
    return root


def test_each_process_trains_on_its_share_of_every_batch(runs):
    """Pretraining and both matching runs (DataLoader and stored features) split each global
    batch of the single-process order between the ranks."""
    first, second = [json.loads((runs / f"shares_rank{r}.json").read_text()) for r in range(WORLD)]
    assert len(first) == len(second) > 0
    for (batch, share), (other_batch, other_share) in zip(first, second):
        assert batch == other_batch and len(batch) == BATCH
        assert share + other_share == batch


@pytest.mark.parametrize("run", MATCH_RUNS)
def test_matching_over_two_processes_equals_one_process(runs, run):
    single = torch.load(runs / f"single_{run}" / "match.pt", weights_only=True)
    ddp = torch.load(runs / f"ddp_{run}" / "match.pt", weights_only=True)
    assert single["state_dict"].keys() == ddp["state_dict"].keys()
    for name, value in single["state_dict"].items():
        if name.startswith("head."):  # only float reduction order differs
            torch.testing.assert_close(ddp["state_dict"][name], value, rtol=1e-6, atol=1e-7, msg=name)
        else:  # the frozen encoder
            assert torch.equal(ddp["state_dict"][name], value), name
    metrics = [pd.read_csv(runs / f"{name}_{run}" / "metrics.csv") for name in ("single", "ddp")]
    assert metrics[0]["epoch"].tolist() == metrics[1]["epoch"].tolist() == [1, 2]
    for column in ("lr", "loss", "train_acc", "val_acc"):
        np.testing.assert_allclose(metrics[1][column], metrics[0][column], rtol=1e-6, err_msg=column)


def test_pretraining_over_two_processes_keeps_the_ranks_identical(runs):
    """On the CPU BatchNorm is per rank (no SyncBatchNorm), so this is not the single-process
    result; but every rank holds the same parameters, and rank 0 writes its state (running
    BatchNorm statistics included, which follow rank 0's share of the batches)."""
    ranks = [torch.load(runs / f"encoder_rank{r}.pt", weights_only=True) for r in range(WORLD)]
    checkpoint = torch.load(runs / "ddp_encoder" / "checkpoint.pt", weights_only=True)
    parameters = {name for name, _ in load_encoder(runs / "ddp_encoder" / "encoder.pt")[0].named_parameters()}
    for name, value in ranks[0].items():
        assert torch.equal(checkpoint["model"][name], value), name  # rank 0 writes its own state
        if name in parameters:  # the same averaged gradients on every rank
            assert torch.equal(ranks[1][name], value), name
    metrics = pd.read_csv(runs / "ddp_encoder" / "metrics.csv")
    assert metrics["epoch"].tolist() == [1] and np.isfinite(metrics[["loss", "train_acc", "val_acc"]]).all().all()
