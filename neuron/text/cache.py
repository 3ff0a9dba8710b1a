"""Text features cached on disk, keyed by the encoder and the exact list of texts.

`<cache_dir>/<encoder name>/<sha256 of the texts>.npy` holds the float32 features (N, dim)
of the N texts in order. The hash is over the JSON list of the texts, so any change of a
text, of the order or of the count is a new entry; the encoder's name identifies its
weights (neuron.text.encoders). Files are written atomically: an interrupted run leaves no
partial entry.
"""

import hashlib
import json
from pathlib import Path

import numpy as np

from neuron.atomic import atomic_path
from neuron.text.base import TextEncoder, check_encoder_name, check_texts


def texts_sha256(texts) -> str:
    """sha256 (hex) of the exact list of texts."""
    payload = json.dumps(list(texts), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def feature_cache_path(cache_dir, encoder_name: str, texts) -> Path:
    return Path(cache_dir) / check_encoder_name(encoder_name) / f"{texts_sha256(texts)}.npy"


def encode_cached(encoder: TextEncoder, texts, cache_dir, batch_size: int = 64,
                  progress: bool = True) -> np.ndarray:
    """encoder.encode(texts) (float32 (N, dim)), read from the cache where it is there."""
    texts = check_texts(texts)
    path = feature_cache_path(cache_dir, encoder.name, texts)
    if path.exists():
        return _read(path, (len(texts), encoder.dim))
    features = encoder.encode(texts, batch_size=batch_size, progress=progress)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, features)
    return features


def _read(path: Path, shape: tuple[int, int]) -> np.ndarray:
    try:
        features = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"text feature cache file {path} cannot be read ({err}); delete it to "
                         "encode these texts again") from None
    if features.shape != shape or features.dtype != np.float32:
        raise ValueError(f"text feature cache file {path} holds {features.dtype} {features.shape}, "
                         f"expected float32 {shape}; delete it to encode these texts again")
    return features
