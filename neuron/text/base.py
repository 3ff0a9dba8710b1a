"""The text encoder interface: texts in, float32 features out.

A `TextEncoder` turns a list of N texts into float32 features (N, dim). Its `name` is a
stable id of the exact model (weights and tokenizer): it keys the feature cache
(neuron.text.cache), so two encoders with the same name must give the same features.
The registered encoders are in neuron.text.encoders.
"""

import re
from abc import ABC, abstractmethod

import numpy as np
from tqdm import tqdm

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # it names a folder of the feature cache


class TextEncoder(ABC):
    """Texts -> features. Subclasses set `name` and `dim` and implement `_encode_batch`."""

    name: str
    dim: int

    def encode(self, texts, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """float32 features (N, dim) of N non-empty texts, in order, `batch_size` texts at a time."""
        texts = check_texts(texts)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        with tqdm(total=len(texts), unit="text", desc=f"encode {self.name}", disable=not progress) as bar:
            for start in range(0, len(texts), batch_size):
                batch = texts[start:start + batch_size]
                features = self._encode_batch(batch)
                if features.shape != (len(batch), self.dim):
                    raise RuntimeError(f"text encoder {self.name} returned features of shape "
                                       f"{features.shape} for {len(batch)} texts; expected "
                                       f"({len(batch)}, {self.dim})")
                out[start:start + len(batch)] = features
                bar.update(len(batch))
        return out

    @abstractmethod
    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        """Features (len(texts), dim) of one batch."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim})"


def check_texts(texts) -> list[str]:
    """The texts as a list; an error names the first one that is not a non-empty string."""
    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings, not one string")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"text {i} is not a non-empty string: {text!r}")
    return texts


def check_encoder_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"text encoder name {name!r} must be letters, digits, '_', '.' or '-' "
                         "(it names a folder of the feature cache)")
    return name
