"""Encoders saved by the official pretraining code (Pretrain_Shift_GCN), usable by `neuron train --encoder`.

The official code saves a bare state dict (parameter name -> tensor, "module." prefixes from
DataParallel possibly left in), with no metadata: no classes, layout or held-out share.
`ShiftGCN` keeps the official names and shapes, so the tensors load as they are; what the file
does not say is taken from the run it is used in, and the command line reports what was found:

    fc.weight             (S, 256)         S seen classes, in ascending class order (re-indexed labels)
    data_bn.weight        (M * V * C,)     M persons, V joints, C input channels
    l1.gcn1.Feature_Mask  (1, V, C)
"""

import logging
from collections.abc import Mapping
from pathlib import Path

import torch

from neuron.errors import DamagedFileError, UserError
from neuron.models.shift_gcn import ShiftGCN
from neuron.models.zero_shot import ENCODER_FORMAT, encoder_from_payload
from neuron.runs import RunData, read_torch_file

log = logging.getLogger(__name__)  # the command line shows its INFO messages
OFFICIAL_MARKERS = ("fc.weight", "data_bn.weight", "l1.gcn1.Feature_Mask")


def official_state_dict(payload) -> dict[str, torch.Tensor] | None:
    """The state dict (prefixes stripped) if `payload` looks like an official checkpoint, else None."""
    if not isinstance(payload, Mapping) or "format" in payload or not payload:
        return None
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in payload.items()):
        return None
    state = {k.removeprefix("module."): v for k, v in payload.items()}
    return state if all(m in state for m in OFFICIAL_MARKERS) else None


def load_run_encoder(path, data: RunData, val_fraction: float) -> tuple[ShiftGCN, dict]:
    """The encoder in `path` for a run on `data`: this project's encoder.pt (`load_encoder`), or a
    state dict of the official pretraining code, taken as the encoder of data's fold's training
    classes (its metadata filled from the run; an INFO log line says what was found)."""
    path = Path(path)
    payload = read_torch_file(path, "give an encoder.pt of `neuron pretrain` or an official Shift-GCN checkpoint")
    if isinstance(payload, Mapping) and payload.get("format") == ENCODER_FORMAT:
        return encoder_from_payload(payload)
    state = official_state_dict(payload)
    if state is None:
        raise DamagedFileError(f"{path} is neither an encoder.pt of `neuron pretrain` nor a state dict of the official "
                               f"pretraining code (one with {', '.join(OFFICIAL_MARKERS)})")
    classes = list(data.fold.train_classes)
    num_classes = state["fc.weight"].shape[0]
    _, joints, channels = state["l1.gcn1.Feature_Mask"].shape
    persons = state["data_bn.weight"].numel() // (joints * channels)
    if num_classes != len(classes):
        raise UserError(f"{path}: its classifier (fc.weight) has {num_classes} classes, but fold {data.fold.name} of "
                        f"{data.name}/{data.split.name} trains on {len(classes)}: it was pretrained on another split")
    encoder = ShiftGCN(num_classes, layout=data.layout, num_persons=persons)
    missing, unexpected = (sorted(set(encoder.state_dict()) - set(state)),
                           sorted(set(state) - set(encoder.state_dict())))
    if missing or unexpected:
        raise UserError(f"{path}: not a Shift-GCN state dict for layout {data.layout}: missing {missing[:5]}, "
                        f"unexpected {unexpected[:5]}")
    try:
        encoder.load_state_dict(state)
    except RuntimeError as err:
        raise UserError(f"{path}: shapes differ from Shift-GCN for layout {data.layout} with {persons} persons "
                        f"({str(err).splitlines()[-1].strip()})") from None
    meta = {"classes": classes, "layout": data.layout, "num_persons": persons, "dataset": data.name,
            "benchmark": data.benchmark, "split": data.split.name, "fold": "official", "val_fraction": val_fraction,
            "epoch": None, "official_checkpoint": str(path)}
    log.info(f"{path}: a state dict of the official pretraining code ({len(state)} tensors; classifier for "
             f"{num_classes} classes; input {persons} persons x {joints} joints x {channels} channels), used as the "
             f"encoder of the seen classes of {data.name}/{data.benchmark}/{data.split.name} in ascending order. It "
             f"records no held-out share: the official code trains on every seen training sample, so samples this "
             f"run holds out (val_fraction {val_fraction}) may have been trained on.")
    return encoder, meta
