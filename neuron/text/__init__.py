"""Text encoders, the on-disk feature cache, and side information -> description features.

    encoder = get_text_encoder("all-minilm-l6-v2")          # or "clip-vit-large-patch14-336", ...
    features = side_info_features(side_info, class_names, encoder, cache_dir)
    # {"spatial": (3, K, N_a, D), "temporal": (3, K, N_a, D)} float32

The encoders' heavy dependencies (transformers, the packaged weights) load only when an
encoder is built.
"""

from neuron.text.base import TextEncoder
from neuron.text.cache import encode_cached, feature_cache_path, texts_sha256
from neuron.text.encoders import ENCODERS, OFFLINE_ENCODERS, get_text_encoder
from neuron.text.features import (
    CLASS_NAME_SEPARATOR,
    CUMULATIVE_SEPARATOR,
    DEFAULT_TEXT_ENCODER,
    TEMPORAL_MODES,
    dataset_text_features,
    load_text_features,
    phase_texts,
    save_text_features,
    side_info_features,
)

__all__ = [
    "ENCODERS", "OFFLINE_ENCODERS", "TextEncoder", "get_text_encoder", "encode_cached",
    "feature_cache_path", "texts_sha256", "CLASS_NAME_SEPARATOR", "CUMULATIVE_SEPARATOR",
    "TEMPORAL_MODES", "DEFAULT_TEXT_ENCODER", "phase_texts", "side_info_features", "dataset_text_features",
    "save_text_features", "load_text_features",
]
