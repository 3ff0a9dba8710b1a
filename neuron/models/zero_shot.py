"""The deployable zero-shot model: a frozen Shift-GCN encoder and a matching head, built and loaded
from the files a run writes (neuron.runs). Evaluation, inference and the experiments reach models
here, never through the trainers (neuron.training)."""

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from neuron.device import resolve_device
from neuron.errors import UserError
from neuron.models.baseline import GlobalBaseline
from neuron.models.neuron import OFFICIAL_LOGIT_SCALE, STREAMS, NeuronHead, check_text
from neuron.models.shift_gcn import FEATURE_CHANNELS, ShiftGCN
from neuron.runs import load_model_file
from neuron.text.features import load_text_features as load_text_file

HEADS = ("neuron", "global")
ENCODER_FORMAT = "neuron-encoder"  # the format marker of an encoder.pt
MATCH_FORMAT = "neuron-match"  # of a match.pt


class ZeroShotModel(nn.Module):
    """A frozen Shift-GCN encoder and a matching head: skeletons (N, 3, T, V, M) and
    description features {stream: (P, K, N_a, D)} -> MatchingOutput over the K classes."""

    def __init__(self, encoder: ShiftGCN, head: nn.Module):
        super().__init__()
        self.encoder = encoder.requires_grad_(False)
        self.head = head

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, T, V, M) -> the persons-averaged feature map (N, C, T', V), without a graph."""
        with torch.no_grad():
            return self.encoder.features(x).mean(dim=1)

    def forward(self, x, text):
        return self.head(self.features(x), text)

    def seen_logits(self, features: torch.Tensor) -> torch.Tensor:
        """The encoder's own classifier of the classes it was pretrained on, applied to a
        persons-averaged feature map (N, C, T', V) -> (N, classes): its forward pass, with the means
        over persons and positions taken in the other order."""
        with torch.no_grad():
            return self.encoder.fc(features.mean(dim=(2, 3)))


def build_head(model: str, text_dim: int, head_kwargs: Mapping | None = None, description_topk: int = 0,
               logit_scale: float = OFFICIAL_LOGIT_SCALE) -> nn.Module:
    """A matching head on the Shift-GCN feature map: "neuron" (NeuronHead, head_kwargs e.g.
    a TABLE6_ROWS entry or num_spatial=...) or "global" (GlobalBaseline); description_topk and
    logit_scale: MatchConfig's (a class scores the mean of its k best description similarities,
    0: of all; the cosine's multiplier)."""
    kwargs = dict(head_kwargs or {})
    fixed = {"feature_dim", "text_dim", "description_topk", "logit_scale"} & set(kwargs)
    if fixed:
        raise UserError(f"head_kwargs may not set {sorted(fixed)}: they follow the encoder, the text features "
                        "and the configuration")
    common = dict(feature_dim=FEATURE_CHANNELS, text_dim=text_dim, description_topk=description_topk,
                  logit_scale=logit_scale)
    if model == "neuron":
        return NeuronHead(**common, **kwargs)
    if model == "global":
        return GlobalBaseline(**common, **kwargs)
    raise UserError(f"model must be one of {HEADS}, got {model!r}")


def load_encoder(path) -> tuple[ShiftGCN, dict]:
    """The encoder in `path` (an encoder.pt) and its metadata (classes, dataset, split, ...)."""
    return encoder_from_payload(load_model_file(path, ENCODER_FORMAT, "encoder", "neuron pretrain ..."))


def encoder_from_payload(payload: dict) -> tuple[ShiftGCN, dict]:
    """The encoder and metadata of an encoder.pt's contents (already read and checked for its format)."""
    encoder = ShiftGCN(len(payload["classes"]), layout=payload["layout"], num_persons=payload["num_persons"])
    encoder.load_state_dict(payload["state_dict"])
    return encoder, {k: v for k, v in payload.items() if k != "state_dict"}


def load_matching_model(path, device="cpu") -> tuple[ZeroShotModel, dict]:
    """The model in a match.pt and its metadata (window, classes, dataset, ...)."""
    payload = load_model_file(path, MATCH_FORMAT, "matching model", "neuron train ...")
    encoder = ShiftGCN(len(payload["encoder_classes"]), layout=payload["layout"], num_persons=payload["num_persons"])
    config = payload["config"]  # runs from before a field existed had its default
    head = build_head(payload["model"], payload["text_dim"], payload["head_kwargs"],
                      config.get("description_topk", 0), config.get("logit_scale", OFFICIAL_LOGIT_SCALE))
    net = ZeroShotModel(encoder, head)
    net.load_state_dict(payload["state_dict"])
    meta = {k: v for k, v in payload.items() if k != "state_dict"}
    return net.to(resolve_device(device) if isinstance(device, str) else device).eval(), meta


def text_features_for(text, class_names) -> dict[str, torch.Tensor]:
    """Description features of the classes `class_names`, in that order, as float32 CPU tensors.

    text: {"spatial": (P, K, N_a, D), "temporal": (P, K, N_a, D)}, or the path of a .npz file
    written by `neuron.text.save_text_features`, whose class names must be `class_names`."""
    names, source = list(class_names), "text features"
    if isinstance(text, (str, Path)):
        source = str(text)
        text, stored_names = load_text_file(text)
        if stored_names != names:
            raise UserError(f"{source} describes the classes {stored_names[:3]}... ({len(stored_names)}), "
                            f"not {names[:3]}... ({len(names)}) in that order")
    if not isinstance(text, Mapping) or set(STREAMS) - set(text):
        raise UserError(f"{source}: expected a dict with keys {STREAMS}")
    text = {s: torch.as_tensor(text[s], dtype=torch.float32) for s in STREAMS}
    try:
        check_text(text, text["spatial"].shape[-1])
    except ValueError as err:
        raise UserError(f"{source}: {err}") from err
    if text["spatial"].shape[1] != len(names):
        raise UserError(f"{source}: features for {text['spatial'].shape[1]} classes, expected {len(names)}")
    if not all(torch.isfinite(t).all() for t in text.values()):
        raise UserError(f"{source}: features contain NaN or infinite values")
    return text
