"""Naming the device a run or a model uses."""

import torch

from neuron.errors import UserError


def resolve_device(name: str) -> torch.device:
    """"auto": CUDA when available, else CPU; "cpu", "cuda", "cuda:1": that device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r} (use auto, cpu, cuda or cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {name!r} requested but CUDA is not available (use 'cpu' or 'auto')")
    if device.type not in ("cpu", "cuda"):
        raise UserError(f"device {name!r} is not supported (use auto, cpu, cuda or cuda:N)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise UserError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s) "
                        f"(use cuda:0..cuda:{torch.cuda.device_count() - 1})")
    return device
