"""Training and inference throughput of the encoder and the matching stage, optimised paths
against the plain eager fp32 path of the same code, measured side by side in one run.

    python benchmarks/train_speed.py [--device auto] [--batch-sizes 64 256] [--window 64]
                                     [--modes eager bf16 compile bf16+compile] [--steps 20]

Stages (synthetic tensors of the real NTU shape: (N, 3, window, 25, 2), 55 seen classes,
10 descriptions per class and phase, CLIP's 768 text dimensions):
  pretrain        one SGD step of Shift-GCN (forward, cross-entropy, backward, update)
  match           one SGD step of the Neuron head on a frozen encoder (the encoder runs too)
  match-cached    the same step on stored encoder features (MatchConfig.cache_features)
  inference       encoder + head forward over every class, no gradients
Modes: eager (fp32), bf16 (autocast), compile (torch.compile), bf16+compile. Prints
samples/s, the ratio to the eager fp32 path of the same stage and batch size, and peak
memory (CUDA: max allocated; CPU: not measured). --json writes the rows too.

The official code's reference (REFERENCE.md, one H100, fp32, batch 64, 64 frames):
pretraining ~1,330 samples/s, matching ~1,295 samples/s.
"""

import argparse
import json
import platform
import time
from datetime import date

import torch
import torch.nn.functional as F

from neuron.device import resolve_device
from neuron.models.neuron import STREAMS, NeuronHead, matching_loss
from neuron.models.shift_gcn import FEATURE_CHANNELS, ShiftGCN
from neuron.models.zero_shot import ZeroShotModel
from neuron.training.runtime import autocast

SEEN, CLASSES, DESCRIPTIONS, TEXT_DIM, PHASES = 55, 60, 10, 768, 3
STAGES = ("pretrain", "match", "match-cached", "inference")
MODES = ("eager", "bf16", "compile", "bf16+compile")


def build_stage(stage: str, device, batch: int, window: int, compile_: bool):
    """A closure running one step of `stage` under the caller's autocast, and its input batch."""
    torch.manual_seed(0)
    x = torch.randn(batch, 3, window, 25, 2, device=device)
    y = torch.randint(0, SEEN, (batch,), device=device)
    if stage == "pretrain":
        model = ShiftGCN(SEEN, layout="ntu25", num_persons=2).to(device).train()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
        forward = torch.compile(model) if compile_ else model

        def step():
            loss = F.cross_entropy(forward(x).float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return step

    text = {s: torch.randn(PHASES, CLASSES, DESCRIPTIONS, TEXT_DIM, device=device) for s in STREAMS}
    seen_text = {s: t[:, :SEEN] for s, t in text.items()}
    net = ZeroShotModel(ShiftGCN(SEEN, layout="ntu25", num_persons=2),
                        NeuronHead(feature_dim=FEATURE_CHANNELS, text_dim=TEXT_DIM)).to(device)
    net.encoder.eval()
    encode = torch.compile(net.features) if compile_ else net.features
    score = torch.compile(net.head) if compile_ else net.head
    if stage == "inference":
        net.eval()

        def step():
            with torch.no_grad():
                score(encode(x), text)
        return step

    optimizer = torch.optim.SGD(net.head.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    cached = net.features(x).detach() if stage == "match-cached" else None

    def step():
        features = cached if cached is not None else encode(x)
        loss = matching_loss(score(features, seen_text), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return step


def measure(stage: str, mode: str, device, batch: int, window: int, steps: int, warmup: int) -> dict:
    amp, compile_ = "bf16" in mode, "compile" in mode
    step = build_stage(stage, device, batch, window, compile_)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    with autocast(device, amp):
        for _ in range(warmup):  # compilation and allocator warm-up happen here
            step()
        sync()
        warm_s = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return {"stage": stage, "mode": mode, "batch": batch, "window": window,
            "samples_per_s": batch * steps / seconds, "warmup_s": warm_s, "peak_gib": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    parser.add_argument("--modes", nargs="+", default=None, choices=MODES,
                        help="default: all on CUDA; eager and bf16 on CPU (compiling takes minutes there)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    modes = args.modes or (list(MODES) if device.type == "cuda" else ["eager", "bf16"])
    if "eager" not in modes:
        modes = ["eager", *modes]  # the reference every ratio is taken against
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        name = torch.cuda.get_device_name(device)
    else:
        name = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    print(f"# {date.today()} torch {torch.__version__} on {device} ({name}); window {args.window}, "
          f"{args.steps} timed steps after {args.warmup} warm-up steps")
    print(f"{'stage':13s} {'mode':13s} {'batch':>5s} {'samples/s':>10s} {'x eager':>8s} {'peak GiB':>9s} "
          f"{'warm-up s':>9s}")
    rows = []
    for stage in args.stages:
        for batch in args.batch_sizes:
            eager = None
            for mode in modes:
                row = measure(stage, mode, device, batch, args.window, args.steps, args.warmup)
                eager = eager or row["samples_per_s"]
                row["ratio"] = row["samples_per_s"] / eager
                rows.append(row)
                peak = f"{row['peak_gib']:.2f}" if row["peak_gib"] is not None else "-"
                print(f"{stage:13s} {mode:13s} {batch:5d} {row['samples_per_s']:10.1f} {row['ratio']:8.2f} "
                      f"{peak:>9s} {row['warmup_s']:9.1f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": str(device), "device_name": name, "torch": torch.__version__,
                       "date": str(date.today()), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
