"""The six conversation turns (phases) and the prompt templates that ask for them.

The templates are plain text files in `prompts/` at the repository root (see its README.md),
installed as the data-only package neuron.prompt_templates (neuron.paths.PROMPTS_DIR), filled
with `string.Template` so that the JSON examples in them need no escaping.
"""

import hashlib
import string
from dataclasses import dataclass
from pathlib import Path

from neuron.paths import PROMPTS_DIR

SPATIAL_COARSE, SPATIAL_MID, SPATIAL_FINE = "spatial_coarse", "spatial_mid", "spatial_fine"
TEMPORAL_START, TEMPORAL_MIDDLE, TEMPORAL_END = "temporal_start", "temporal_middle", "temporal_end"
SPATIAL_PHASES = (SPATIAL_COARSE, SPATIAL_MID, SPATIAL_FINE)
TEMPORAL_PHASES = (TEMPORAL_START, TEMPORAL_MIDDLE, TEMPORAL_END)
PHASES = SPATIAL_PHASES + TEMPORAL_PHASES  # the order of the turns in each conversation

_TEMPLATE_NAMES = ("system", "similar", "fix") + PHASES


@dataclass(frozen=True)
class PromptTemplates:
    """The templates of one prompts directory; `sha256` identifies their exact wording."""

    texts: dict[str, str]  # template name (file stem) -> text
    sha256: str

    @classmethod
    def load(cls, prompts_dir=PROMPTS_DIR) -> "PromptTemplates":
        prompts_dir = Path(prompts_dir)
        texts, digest = {}, hashlib.sha256()
        for name in _TEMPLATE_NAMES:
            path = prompts_dir / f"{name}.txt"
            if not path.is_file():
                raise FileNotFoundError(f"prompt template {path} is missing "
                                        f"(expected {_TEMPLATE_NAMES} in {prompts_dir})")
            text = path.read_text(encoding="utf-8").strip()
            if not text:
                raise ValueError(f"prompt template {path} is empty")
            texts[name] = text
            # name and a separator too, so that moving text between files changes the hash
            digest.update(f"{name}\0{text}\0".encode())
        return cls(texts=texts, sha256=digest.hexdigest())

    def system(self) -> str:
        return self.texts["system"]

    def turn(self, phase: str, action: str, n: int, similar: list[str]) -> str:
        """The user message asking for `n` descriptions of `action` in `phase`."""
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}; expected one of {PHASES}")
        names = "; ".join(f'"{name}"' for name in similar)
        clause = self._fill("similar", action=action, similar=names) if similar else ""
        return self._fill(phase, action=action, n=n, similar=clause)

    def fix(self, error: str, action: str, n: int) -> str:
        """The user message that sends a validation error back and asks for a corrected answer."""
        return self._fill("fix", error=error, action=action, n=n)

    def _fill(self, name: str, **values) -> str:
        try:
            return string.Template(self.texts[name]).substitute(**values)
        except (KeyError, ValueError) as err:
            raise ValueError(f"prompt template {name}.txt has a placeholder that is not one of "
                             f"{sorted(values)}: {err}") from err
