"""The Neuron matching head: spatial-temporal micro-prototypes that evolve phase by phase and
are aligned with per-phase description features (Chen et al., CVPR 2025).

Input: the frozen encoder's feature map F (N, C, T', V) (``ShiftGCN.features(x).mean(1)``:
persons averaged, as the official code does; C = 256, T' = 16 for 64 frames) and the
description features ``text = {"spatial": (P, K, N_a, D), "temporal": (P, K, N_a, D)}``:
P phases (spatial: coarse, mid, fine granularity; temporal: start, middle, end of the
movement), K classes, N_a descriptions per class and phase, D text dimensions (768 for
CLIP ViT-L/14@336px).

Spatial stream (compression), phase e = 1..P, from F_s = mean_t F (N, V, C):
    S = F_s P_s^T                            (N, V, A) joint-attribute scores
    H = softmax_V(S), then per joint keep its k_e highest-scoring attributes and
        multiply the others by 1e-12 (k_e = keep_fractions[e] * A shrinks phase by phase)
    P_s <- refine_e(H^T F_s)                 (N, A, C)
Temporal stream (memory), phase e on the time segment F_t^e of F_t = mean_v F (N, T', C):
    H = softmax_T(F_t^e P_t^T)               (N, T_e, A)
    P_hat = H^T F_t^e                         (N, A, C)
    P_t <- sigmoid(rho_r(P_hat)) * P_t + sigmoid(rho_m(P_hat)) * phi_e(P_hat)
Per phase: X^e = mean over attributes of the prototypes (N, C), projected (Linear C -> D,
ReLU, L2-normalised, one head per stream shared by the phases) and scored against every
class: logit_scale * mean over the class's N_a descriptions of the cosine similarity.

Facts from the official code (cseeyangchen/Neuron, ``model/shiftgcn_match.py``, class
``ModelMatch``; loss in ``main_match.py``) that the paper leaves open:
- 80 prototypes per stream, initialised N(0, 1) (``nn.Embedding(80, 256)``).
- Phase k masks each joint's 20*k lowest-scoring of 80 attributes: keep 60, 40, 20, i.e.
  ``OFFICIAL_KEEP_FRACTIONS``. The kept weights are a softmax over *joints*, the ranking is
  per joint over attributes.
- Temporal segments are growing prefixes of the 16 steps: [:5], [:10], [:16] ("prefix").
- Every per-phase MLP (refine_e, phi_e, rho_r, rho_m) is Linear-ReLU-Linear-ReLU (C -> C),
  and the copies start from identical weights (``copy.deepcopy`` of one template): refine_e,
  rho_r and rho_m copy one template, phi_e another. The final ReLU puts both memory gates in
  [0.5, 1).
- Scores are cosine * 0.1 (a multiplier, i.e. temperature 10), the mean of the 10 highest
  description similarities (``topk(10).mean``: the plain mean while a class has 10; here
  ``description_topk``, 0 = the mean of all); loss = mean of the 2 * P cross-entropy terms.
  Logits stay within +-0.1, so softmax scores stay near 1/K: the official GZSL calibration
  subtracts 2e-4..3e-4 from them.
- The official joint count is hard-coded to 25; here V is whatever the feature map has.
"""

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

STREAMS = ("spatial", "temporal")
OFFICIAL_KEEP_FRACTIONS = (0.75, 0.5, 0.25)  # 60, 40, 20 of 80 attributes per joint
OFFICIAL_LOGIT_SCALE = 0.1
MASKED_WEIGHT = 1e-12  # the official factor for compressed-away attributes ("zero" in the paper)
SegmentMode = Literal["prefix", "thirds"]
SEGMENT_MODES = ("prefix", "thirds")


@dataclass
class MatchingOutput:
    """What every matching model returns, so a trainer treats them alike.

    logits_per_phase: stream name -> one (N, K) logit tensor per phase, in phase order.
    features_per_phase: stream name -> one (N, C) pooled feature per phase (X^e, before the
        projection head), for analysis and t-SNE.
    """

    logits_per_phase: dict[str, list[Tensor]]
    features_per_phase: dict[str, list[Tensor]]

    def final_logits(self) -> dict[str, Tensor]:
        """Prediction scores: stream -> (N, K) logits of the last phase."""
        return {stream: logits[-1] for stream, logits in self.logits_per_phase.items()}


def matching_loss(output: MatchingOutput, labels: Tensor) -> Tensor:
    """Mean over streams of the mean over phases of the cross-entropy (the official loss:
    (mean of the 3 spatial terms + mean of the 3 temporal terms) / 2). labels: (N,) int64."""
    per_stream = [torch.stack([F.cross_entropy(logits, labels) for logits in phases]).mean()
                  for phases in output.logits_per_phase.values()]
    return torch.stack(per_stream).mean()


def description_logits(embedding: Tensor, descriptions: Tensor, logit_scale: float, topk: int = 0) -> Tensor:
    """embedding (N, D), L2-normalised; descriptions (K, N_a, D), any norm.
    Returns (N, K): logit_scale * the mean cosine similarity over the N_a descriptions, or with
    topk > 0 over the min(topk, N_a) most similar ones (official: topk(10).mean)."""
    cosine = torch.einsum("nd,kad->nka", embedding, F.normalize(descriptions, dim=-1))  # (N, K, N_a)
    if 0 < topk < cosine.shape[2]:
        cosine = cosine.topk(topk, dim=2).values
    return logit_scale * cosine.mean(dim=2)


def check_features(features: Tensor, channels: int, min_steps: int = 1) -> None:
    """Raise a clear error unless features is an encoder feature map (N, channels, T' >= min_steps, V)."""
    if features.dim() != 4 or features.shape[1] != channels:
        raise ValueError(f"expected an encoder feature map (N, C={channels}, T', V), got shape "
                         f"{tuple(features.shape)}; average ShiftGCN.features(x) over persons first")
    if features.shape[2] < min_steps:
        raise ValueError(f"the feature map has T'={features.shape[2]} time steps, fewer than the "
                         f"{min_steps} temporal phases")


def check_text(text: Mapping[str, Tensor], text_dim: int, phases: int | None = None) -> None:
    """Raise a clear error unless text maps both streams to description features (P, K, N_a, D)
    with the same K; phases: the required P, or None to accept any."""
    if not isinstance(text, Mapping) or set(STREAMS) - set(text):
        keys = sorted(text) if isinstance(text, Mapping) else type(text).__name__
        raise ValueError(f"text must map {STREAMS} to (P, K, N_a, D) description features, got {keys}")
    num_classes = None
    for stream in STREAMS:
        shape = tuple(text[stream].shape)
        if len(shape) != 4 or shape[-1] != text_dim or (phases is not None and shape[0] != phases):
            p = phases if phases is not None else "P"
            raise ValueError(f"text[{stream!r}] must have shape (P={p}, K, N_a, D={text_dim}), got {shape}")
        if num_classes is not None and shape[1] != num_classes:
            raise ValueError(f"spatial and temporal descriptions cover different class counts: "
                             f"{num_classes} vs {shape[1]}")
        num_classes = shape[1]


def check_segment_mode(mode: str) -> None:
    if mode not in SEGMENT_MODES:
        raise ValueError(f"temporal segment mode must be one of {SEGMENT_MODES}, got {mode!r}")


def segment_bounds(num_steps: int, phases: int, mode: SegmentMode) -> list[tuple[int, int]]:
    """Time steps [start, stop) that temporal phase e reads, e = 0..phases-1.

    The phase boundaries are b_e = floor(num_steps * e / phases) (5, 10, 16 for 16 steps).
    "prefix" (official code): growing prefixes [0, b_e). "thirds" (paper text): the disjoint
    parts [b_{e-1}, b_e), thirds for three phases.
    """
    check_segment_mode(mode)
    if num_steps < phases:
        raise ValueError(f"{num_steps} time steps cannot be split into {phases} temporal phases")
    ends = [num_steps * e // phases for e in range(1, phases + 1)]
    starts = [0] * phases if mode == "prefix" else [0] + ends[:-1]
    return list(zip(starts, ends))


def joint_keep_mask(scores: Tensor, keep: int) -> Tensor:
    """scores (N, V, A) -> bool (N, V, A), True at each joint's `keep` highest-scoring attributes.

    Ranks the raw scores: the official code ranks softmax(scores) over attributes, which is
    the same order except where float32 saturation turns the lowest entries into ties.
    """
    top = scores.topk(keep, dim=2).indices  # (N, V, keep)
    return torch.zeros_like(scores, dtype=torch.bool).scatter_(2, top, True)


def prototype_mlp(channels: int) -> nn.Sequential:
    """The official per-phase MLP: Linear-ReLU-Linear-ReLU, (..., C) -> (..., C)."""
    return nn.Sequential(nn.Linear(channels, channels), nn.ReLU(),
                         nn.Linear(channels, channels), nn.ReLU())


def projection_head(channels: int, text_dim: int) -> nn.Sequential:
    """(N, C) -> (N, D) before L2 normalisation: Linear + ReLU, as official."""
    return nn.Sequential(nn.Linear(channels, text_dim), nn.ReLU())


def _copies(template: nn.Module, count: int) -> nn.ModuleList:
    # Official: per-phase modules are deep copies of one template, so they start identical.
    return nn.ModuleList(copy.deepcopy(template) for _ in range(count))


class SpatialCompressionStream(nn.Module):
    """Spatial micro-prototypes P_s (A, C) refined over the granularity phases.

    keep_counts: attributes kept per joint in each phase, or None for no compression.
    granularity_update: each phase starts from the previous phase's prototypes; if False,
        every phase starts from the learned P_s (no evolution across granularities).
    refine_template: the MLP each phase's refine_e copies.
    """

    def __init__(self, num_prototypes: int, channels: int, phases: int, keep_counts: tuple[int, ...] | None,
                 granularity_update: bool, refine_template: nn.Module):
        super().__init__()
        self.prototypes = nn.Parameter(torch.randn(num_prototypes, channels))  # (A, C), like nn.Embedding
        self.refine = _copies(refine_template, phases)
        self.keep_counts = keep_counts
        self.granularity_update = granularity_update

    def assignment(self, spatial_feature: Tensor, prototypes: Tensor, phase: int) -> Tensor:
        """spatial_feature F_s (N, V, C), prototypes (N, A, C) -> weights H (N, V, A):
        softmax over joints of the scores F_s P_s^T, compressed-away attributes times 1e-12."""
        scores = torch.einsum("nvc,nac->nva", spatial_feature, prototypes)  # (N, V, A)
        weights = scores.softmax(dim=1)  # each attribute distributes over the joints
        if self.keep_counts is None:
            return weights
        keep = joint_keep_mask(scores, self.keep_counts[phase])
        return torch.where(keep, weights, weights * MASKED_WEIGHT)

    def forward(self, spatial_feature: Tensor) -> list[Tensor]:
        """F_s (N, V, C) -> the prototypes after each phase, P tensors (N, A, C)."""
        prototypes = self.prototypes.expand(spatial_feature.shape[0], -1, -1)  # (N, A, C)
        states = []
        for phase, refine in enumerate(self.refine):
            weights = self.assignment(spatial_feature, prototypes, phase)  # (N, V, A)
            aggregated = torch.einsum("nva,nvc->nac", weights, spatial_feature)  # H^T F_s (N, A, C)
            updated = refine(aggregated)  # (N, A, C)
            states.append(updated)
            if self.granularity_update:
                prototypes = updated
        return states


class TemporalMemoryStream(nn.Module):
    """Temporal micro-prototypes P_t (A, C) evolving over the temporal phases.

    segment_mode: which time steps each phase reads (``segment_bounds``).
    memory: gate the update, P_t <- sigmoid(rho_r(P_hat)) * P_t + sigmoid(rho_m(P_hat)) * phi_e(P_hat);
        if False, P_t <- phi_e(P_hat).
    phase_evolving: each phase starts from the previous phase's prototypes; if False, every
        phase starts from the learned P_t.
    update_template, gate_template: the MLPs phi_e and rho_r / rho_m copy.
    """

    def __init__(self, num_prototypes: int, channels: int, phases: int, segment_mode: SegmentMode, memory: bool,
                 phase_evolving: bool, update_template: nn.Module, gate_template: nn.Module):
        super().__init__()
        check_segment_mode(segment_mode)
        self.prototypes = nn.Parameter(torch.randn(num_prototypes, channels))  # (A, C), like nn.Embedding
        self.update = _copies(update_template, phases)
        self.recall = _copies(gate_template, phases) if memory else None
        self.remember = _copies(gate_template, phases) if memory else None
        self.segment_mode = segment_mode
        self.phase_evolving = phase_evolving

    def forward(self, temporal_feature: Tensor) -> list[Tensor]:
        """F_t (N, T', C) -> the prototypes after each phase, P tensors (N, A, C)."""
        bounds = segment_bounds(temporal_feature.shape[1], len(self.update), self.segment_mode)
        prototypes = self.prototypes.expand(temporal_feature.shape[0], -1, -1)  # (N, A, C)
        states = []
        for phase, (start, stop) in enumerate(bounds):
            segment = temporal_feature[:, start:stop]  # F_t^e (N, T_e, C)
            scores = torch.einsum("ntc,nac->nta", segment, prototypes)  # (N, T_e, A)
            weights = scores.softmax(dim=1)  # each attribute attends over the segment's steps
            aggregated = torch.einsum("nta,ntc->nac", weights, segment)  # P_hat = H^T F_t^e (N, A, C)
            updated = self.update[phase](aggregated)  # phi_e(P_hat)
            if self.recall is not None:
                updated = (torch.sigmoid(self.recall[phase](aggregated)) * prototypes
                           + torch.sigmoid(self.remember[phase](aggregated)) * updated)
            states.append(updated)
            if self.phase_evolving:
                prototypes = updated
        return states


class NeuronHead(nn.Module):
    """Neuron's matching head on a frozen encoder's feature map.

    feature_dim: C of the feature map; text_dim: D of the description features;
    num_spatial, num_temporal: prototype counts N_s, N_t; phases: P (description phases per
    stream); keep_fractions: per phase, the fraction of N_s attributes each joint keeps under
    compression (rounded; official 60/40/20 of 80); temporal_segments: "prefix" (official) or
    "thirds" (paper text); logit_scale: multiplier of the cosine scores (official 0.1);
    description_topk: a class scores the mean of its k most similar descriptions (0: all).
    Switches of the paper's Table 6 ablation (see ``TABLE6_ROWS``):
    spatial_granularity (spatial prototypes carried across granularity phases),
    spatial_compression (per-joint attribute masking), temporal_evolving (temporal
    prototypes carried across phases), temporal_memory (recall / remember gates).
    """

    def __init__(self, feature_dim: int = 256, text_dim: int = 768, num_spatial: int = 80, num_temporal: int = 80,
                 phases: int = 3, keep_fractions: tuple[float, ...] = OFFICIAL_KEEP_FRACTIONS,
                 temporal_segments: SegmentMode = "prefix", spatial_compression: bool = True,
                 spatial_granularity: bool = True, temporal_memory: bool = True, temporal_evolving: bool = True,
                 logit_scale: float = OFFICIAL_LOGIT_SCALE, description_topk: int = 0):
        super().__init__()
        self.feature_dim, self.text_dim, self.phases, self.logit_scale = feature_dim, text_dim, phases, logit_scale
        self.description_topk = description_topk
        keep_counts = self._keep_counts(keep_fractions, num_spatial, phases) if spatial_compression else None
        # Official initialisation: refine_e, rho_r and rho_m copy one template, phi_e another.
        spatial_template, temporal_template = prototype_mlp(feature_dim), prototype_mlp(feature_dim)
        self.spatial = SpatialCompressionStream(num_spatial, feature_dim, phases, keep_counts,
                                                spatial_granularity, spatial_template)
        self.temporal = TemporalMemoryStream(num_temporal, feature_dim, phases, temporal_segments, temporal_memory,
                                             temporal_evolving, temporal_template, spatial_template)
        self.project = nn.ModuleDict({stream: projection_head(feature_dim, text_dim) for stream in STREAMS})

    @staticmethod
    def _keep_counts(fractions: tuple[float, ...], num_prototypes: int, phases: int) -> tuple[int, ...]:
        if len(fractions) != phases:
            raise ValueError(f"keep_fractions needs one fraction per phase ({phases}), got {fractions}")
        counts = tuple(round(f * num_prototypes) for f in fractions)
        if any(not 1 <= k <= num_prototypes for k in counts):
            raise ValueError(f"keep_fractions {fractions} of {num_prototypes} attributes give keep counts {counts}; "
                             f"each must lie in 1..{num_prototypes}")
        return counts

    def forward(self, features: Tensor, text: Mapping[str, Tensor]) -> MatchingOutput:
        """features F (N, C, T', V); text {stream: (P, K, N_a, D)} -> MatchingOutput with
        P logits (N, K) and P pooled features X^e (N, C) per stream."""
        check_features(features, self.feature_dim, min_steps=self.phases)
        check_text(text, self.text_dim, self.phases)
        spatial_feature = features.mean(dim=2).transpose(1, 2)  # F_s (N, V, C)
        temporal_feature = features.mean(dim=3).transpose(1, 2)  # F_t (N, T', C)
        states = {"spatial": self.spatial(spatial_feature), "temporal": self.temporal(temporal_feature)}
        pooled = {stream: [s.mean(dim=1) for s in states[stream]] for stream in STREAMS}  # X^e (N, C)
        logits = {
            stream: [description_logits(F.normalize(self.project[stream](x), dim=1), text[stream][phase],
                                        self.logit_scale, self.description_topk)
                     for phase, x in enumerate(pooled[stream])]
            for stream in STREAMS
        }
        return MatchingOutput(logits_per_phase=logits, features_per_phase=pooled)


# Table 6 of the paper (NTU60 Xsub 55/5, ZSL / GZSL H) as switch settings of NeuronHead; each
# row adds one component to the row before. "Off" for an evolving switch means every phase
# starts again from the learned prototypes (phases stay separately aligned with their own
# descriptions); compression off keeps all attributes; memory off replaces P_t by phi_e(P_hat).
TABLE6_ROWS = {
    "neither": dict(spatial_granularity=False, temporal_evolving=False,
                    spatial_compression=False, temporal_memory=False),  # 79.9 / 65.9
    "+spatial_granularity": dict(spatial_granularity=True, temporal_evolving=False,
                                 spatial_compression=False, temporal_memory=False),  # 81.0 / 66.3
    "+temporal_evolving": dict(spatial_granularity=True, temporal_evolving=True,
                               spatial_compression=False, temporal_memory=False),  # 81.2 / 67.1
    "+spatial_compression": dict(spatial_granularity=True, temporal_evolving=True,
                                 spatial_compression=True, temporal_memory=False),  # 81.7 / 69.9
    "full": dict(spatial_granularity=True, temporal_evolving=True,
                 spatial_compression=True, temporal_memory=True),  # 86.9 / 71.4
}
