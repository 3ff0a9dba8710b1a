"""CLIP text tower (the paper's encoder: ViT-L/14@336px, d = 768) through `transformers`.

Mirrors OpenAI's `clip.tokenize(text, truncate=True)` + `model.encode_text`: texts are cut to
the 77-token context (start token, the first 75 text tokens, end token), padded to 77, and
the feature is the final-layer-normed hidden state at the end token times the text
projection. Features are not normalised (as in the paper's released `.tar` features).

Weights are never downloaded here: `model` is a Hugging Face hub id that must already be in
the local cache, or a directory saved with `save_pretrained` (a full CLIPModel or a
CLIPTextModelWithProjection, with its tokenizer files).
"""

import hashlib
from pathlib import Path

import numpy as np
import torch

from neuron.errors import MissingInputError
from neuron.text.base import TextEncoder, check_encoder_name
from neuron.text.hf import load_pretrained

HUB_ID = "openai/clip-vit-large-patch14-336"
CONTEXT_LENGTH = 77  # CLIP's text context, start and end tokens included
_TOKENIZER_FILES = ("vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json",
                    "special_tokens_map.json")


class CLIPTextEncoder(TextEncoder):
    """model: a hub id in the local Hugging Face cache, or a local model directory.

    name: "clip-vit-large-patch14-336" for the default hub id, the repository name for other
    `openai/` ids, and for a directory "clip-local-<hash>", a hash of its weights and
    tokenizer files, so that a different model never shares cached features.
    device: default "cuda" where available, else "cpu".
    """

    def __init__(self, model: str = HUB_ID, device: str | None = None):
        from transformers import CLIPTextModelWithProjection, CLIPTokenizer

        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        directory = Path(model).expanduser()
        if directory.is_dir():
            source = str(directory)
        elif "/" in model and not model.startswith((".", "/", "~")):
            source = model  # a hub id: the cache only
        else:
            raise MissingInputError(f"CLIP model directory {directory} does not exist (download it with "
                                    "`hf download openai/clip-vit-large-patch14-336`)")
        try:
            self.model = load_pretrained(CLIPTextModelWithProjection, source).to(self.device)
            self.tokenizer = CLIPTokenizer.from_pretrained(source, local_files_only=True)
        except OSError as err:
            raise MissingInputError(_missing_message(model, directory.is_dir(), err)) from None
        # Without its vocabulary files the tokenizer loads as a 3-token stub instead of failing.
        if len(self.tokenizer) != self.model.config.vocab_size:
            raise ValueError(f"the CLIP tokenizer of {model} has {len(self.tokenizer)} tokens but the model "
                             f"{self.model.config.vocab_size}: its vocab.json and merges.txt (or "
                             "tokenizer.json) are missing or belong to another model")
        self.dim = self.model.config.projection_dim
        if directory.is_dir():
            self.name = f"clip-local-{_fingerprint(self.model, directory)[:16]}"
        elif model.startswith("openai/"):
            self.name = model.split("/", 1)[1]
        else:
            self.name = model.replace("/", "--")
        check_encoder_name(self.name)

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        tokens = self.tokenizer(texts, padding="max_length", truncation=True, max_length=CONTEXT_LENGTH,
                                return_tensors="pt")
        with torch.inference_mode():
            out = self.model(input_ids=tokens["input_ids"].to(self.device),
                             attention_mask=tokens["attention_mask"].to(self.device))
        return out.text_embeds.float().cpu().numpy()


def _fingerprint(model: torch.nn.Module, directory: Path) -> str:
    """sha256 of the loaded parameters (in name order) and of the tokenizer files."""
    digest = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        digest.update(f"{key}\0{tuple(value.shape)}\0".encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    for filename in _TOKENIZER_FILES:
        path = directory / filename
        if path.is_file():
            digest.update(f"{filename}\0".encode() + path.read_bytes())
    return digest.hexdigest()


def _missing_message(model: str, is_dir: bool, err: OSError) -> str:
    if is_dir:
        return (f"CLIP model directory {model} cannot be loaded ({err}); it needs config.json, the "
                "weights (model.safetensors or pytorch_model.bin) and the tokenizer files "
                "(vocab.json and merges.txt, or tokenizer.json), as written by save_pretrained")
    from huggingface_hub.constants import HF_HUB_CACHE
    return (f"the CLIP weights {model!r} are not in the Hugging Face cache ({HF_HUB_CACHE}), and "
            "this project never downloads them. On a machine with internet run\n"
            f"    hf download {model}\n"
            f"(older huggingface_hub: `huggingface-cli download {model}`), or pass a local "
            "directory holding the model (config.json, weights, vocab.json, merges.txt) as model=<dir>.")
