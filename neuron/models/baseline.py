"""Global-alignment baseline: one pooled skeleton feature matched to one class embedding.

The comparison point for Neuron's micro-prototypes. It keeps everything else equal: the same
frozen feature map, the same projection head (Linear C -> D, ReLU, L2-normalised), the same
cosine scoring with the same logit scale, the same loss and output interface
(``MatchingOutput``), but no prototypes and no phases:

    X = mean over T' and V of F                       (N, C)
    z = normalize(ReLU(W X + b))                      (N, D)
    logit_k = logit_scale * mean over all descriptions of class k of cos(z, t)
              (or over its description_topk most similar ones, as Neuron per phase)

where "all descriptions" are the N_a descriptions of every phase of both streams
(2 * P * N_a per class), so the class embedding carries the same side information Neuron
sees, averaged instead of staged. The single stream is named "global".
"""

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuron.models.neuron import (
    OFFICIAL_LOGIT_SCALE,
    STREAMS,
    MatchingOutput,
    check_features,
    check_text,
    description_logits,
    projection_head,
)

GLOBAL_STREAM = "global"


class GlobalBaseline(nn.Module):
    """feature_dim: C of the feature map; text_dim: D; logit_scale: multiplier of the cosine;
    description_topk: score the mean of the k most similar descriptions (0: all)."""

    def __init__(self, feature_dim: int = 256, text_dim: int = 768, logit_scale: float = OFFICIAL_LOGIT_SCALE,
                 description_topk: int = 0):
        super().__init__()
        self.feature_dim, self.text_dim, self.logit_scale = feature_dim, text_dim, logit_scale
        self.description_topk = description_topk
        self.project = projection_head(feature_dim, text_dim)

    def forward(self, features: Tensor, text: Mapping[str, Tensor]) -> MatchingOutput:
        """features F (N, C, T', V); text {stream: (P, K, N_a, D)} -> MatchingOutput with one
        (N, K) logit tensor and the pooled feature (N, C) under "global"."""
        check_features(features, self.feature_dim)
        check_text(text, self.text_dim)
        pooled = features.mean(dim=(2, 3))  # (N, C)
        embedding = F.normalize(self.project(pooled), dim=1)  # (N, D)
        # (P, K, N_a, D) per stream -> (K, P * N_a, D), then both streams side by side.
        descriptions = torch.cat([text[s].transpose(0, 1).flatten(1, 2) for s in STREAMS], dim=1)
        logits = description_logits(embedding, descriptions, self.logit_scale, self.description_topk)  # (N, K)
        return MatchingOutput(logits_per_phase={GLOBAL_STREAM: [logits]},
                              features_per_phase={GLOBAL_STREAM: [pooled]})
