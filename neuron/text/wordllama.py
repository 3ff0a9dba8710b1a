"""WordLlama static embeddings (l2_supercat, d = 256) from the weights inside the wordllama package.

WordLlama is a table of token embeddings distilled from an LLM's input embeddings (Llama 2
tokenizer, 32,000 tokens); a text's feature is the mean of its tokens' rows (no special
tokens, no truncation), not normalised: what `WordLlama.load().embed(texts)` returns. The
table and tokenizer are read straight from the package's files, without importing the
package, whose import configures the root logger and whose loader may download files.
"""

import importlib.util
from pathlib import Path

import numpy as np

from neuron.text.base import TextEncoder

PACKAGE = "wordllama"
CONFIG, DIM = "l2_supercat", 256


def package_dir() -> Path:
    spec = importlib.util.find_spec(PACKAGE)  # locates the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"the WordLlama text encoder needs the package {PACKAGE} "
                          f"(pip install {PACKAGE}); it carries the embedding table")
    return Path(list(spec.submodule_search_locations)[0])


class WordLlamaEncoder(TextEncoder):
    name = f"wordllama-{CONFIG.replace('_', '-')}-{DIM}"
    dim = DIM

    def __init__(self):
        from safetensors import safe_open
        from tokenizers import Tokenizer

        root = package_dir()
        weights = root / "weights" / f"{CONFIG}_{DIM}.safetensors"
        tokenizer = root / "tokenizers" / f"{CONFIG}_tokenizer_config.json"
        for path in (weights, tokenizer):
            if not path.is_file():
                raise FileNotFoundError(f"{path} is missing from the installed {PACKAGE} package "
                                        f"(reinstall it: pip install --force-reinstall {PACKAGE})")
        with safe_open(str(weights), framework="np") as f:
            self.table = np.ascontiguousarray(f.get_tensor("embedding.weight"), dtype=np.float32)
        if self.table.ndim != 2 or self.table.shape[1] != DIM:
            raise ValueError(f"{weights}: expected an embedding table (vocab, {DIM}), got {self.table.shape}")
        self.tokenizer = Tokenizer.from_file(str(tokenizer))
        if self.tokenizer.get_vocab_size() > len(self.table):
            raise ValueError(f"{tokenizer} has {self.tokenizer.get_vocab_size()} tokens but the table "
                             f"{weights} only {len(self.table)} rows")
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts, add_special_tokens=False)
        out = np.empty((len(texts), DIM), dtype=np.float32)
        for i, encoding in enumerate(encodings):
            ids = np.asarray(encoding.ids, dtype=np.int64)
            out[i] = self.table[ids].sum(0, dtype=np.float32) / max(len(ids), 1)
        return out
