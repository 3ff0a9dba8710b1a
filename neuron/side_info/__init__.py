"""Side information: LLM-written descriptions of each action class, six phases per class.

`neuron.side_info.generate.generate_side_info` asks a chat-completions server (OpenAI, vLLM,
llama.cpp, Ollama) and caches the answers; it needs the `openai` package, so it is not
imported here. `load_side_info` reads the cache back as {class: {phase: [N_a descriptions]}}.
"""

from neuron.side_info.cache import SOURCE_API, SOURCE_HANDWRITTEN, handwritten_phase, load_side_info
from neuron.side_info.prompts import (
    PHASES,
    SPATIAL_COARSE,
    SPATIAL_FINE,
    SPATIAL_MID,
    SPATIAL_PHASES,
    TEMPORAL_END,
    TEMPORAL_MIDDLE,
    TEMPORAL_PHASES,
    TEMPORAL_START,
    PromptTemplates,
)
from neuron.side_info.similar import similar_by_token_overlap

__all__ = [
    "PHASES", "SPATIAL_PHASES", "TEMPORAL_PHASES", "SPATIAL_COARSE", "SPATIAL_MID", "SPATIAL_FINE",
    "TEMPORAL_START", "TEMPORAL_MIDDLE", "TEMPORAL_END", "PromptTemplates", "SOURCE_API",
    "SOURCE_HANDWRITTEN", "handwritten_phase", "load_side_info", "similar_by_token_overlap",
]
