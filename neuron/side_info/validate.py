"""Checks an LLM answer must pass before its descriptions are accepted.

An answer is one JSON object {"descriptions": [...]} (one surrounding markdown code fence,
which many local models add despite being told not to, is tolerated). Its descriptions must be

- exactly N_a items, each a non-empty string;
- distinct once case and whitespace are ignored (copies add nothing to the mean of the
  class's text features);
- MIN_WORDS..MAX_WORDS words long: shorter is a label rather than a description; longer goes
  well past what any turn asks for (at most 45 words) and towards the 77-token context of the
  CLIP text encoder, which truncates. The descriptions released with the paper have 5..41 words;
- for the three spatial phases, each must name at least one body part or joint (BODY_WORDS),
  since those turns ask how the body moves. This is stricter than the released descriptions:
  about a quarter of their NTU classes have a spatial description that names only objects
  ("place stapler over papers, press firmly"). Temporal descriptions are not checked for
  vocabulary: they describe a moment of the movement ("setting the glass back down"), often
  without naming a body part.

The error messages are written to be sent back to the model, which is asked to fix its answer.
"""

import json
import re

from neuron.side_info.prompts import SPATIAL_PHASES

MIN_WORDS, MAX_WORDS = 5, 60

BODY_WORDS = frozenset("""
    body head face forehead eye eyes ear ears nose nostril nostrils cheek cheeks mouth lip lips
    jaw chin neck shoulder shoulders arm arms forearm forearms elbow elbows wrist wrists hand
    hands palm palms finger fingers fingertips thumb thumbs fist fists knuckles nail nails chest
    torso trunk back spine waist stomach abdomen belly hip hips pelvis buttocks butt lap leg legs
    thigh thighs knee knees shin shins calf calves ankle ankles foot feet heel heels toe toes
    limb limbs joint joints
""".split())

_FENCE = re.compile(r"^```[a-zA-Z]*\s*\n(.*)\n\s*```$", re.DOTALL)


class InvalidAnswer(ValueError):
    """An answer that cannot be used; the message says why, for the model to fix."""


def parse_answer(text, n: int, phase: str) -> list[str]:
    """The `n` descriptions in an assistant message, with runs of whitespace collapsed."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidAnswer("the answer was empty")
    text = text.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        raise InvalidAnswer(f"the answer is not valid JSON ({err.msg} at character {err.pos})") from None
    if not isinstance(obj, dict) or "descriptions" not in obj:
        raise InvalidAnswer('the answer is not a JSON object with the key "descriptions"')
    return check_descriptions(obj["descriptions"], n, phase)


def check_descriptions(descriptions, n: int, phase: str) -> list[str]:
    """Apply the rules of the module docstring; return the descriptions with whitespace collapsed."""
    if not isinstance(descriptions, list):
        raise InvalidAnswer(f'"descriptions" must be a list of strings, got {type(descriptions).__name__}')
    if len(descriptions) != n:
        raise InvalidAnswer(f"expected exactly {n} descriptions, got {len(descriptions)}")
    out, seen = [], {}
    for i, item in enumerate(descriptions, start=1):
        if not isinstance(item, str) or not item.strip():
            raise InvalidAnswer(f"description {i} is not a non-empty string: {item!r}")
        item = " ".join(item.split())
        words = item.split()
        if not MIN_WORDS <= len(words) <= MAX_WORDS:
            raise InvalidAnswer(f"description {i} has {len(words)} words; each must have "
                                f"{MIN_WORDS} to {MAX_WORDS} words: {item!r}")
        key = item.casefold()
        if key in seen:
            raise InvalidAnswer(f"descriptions {seen[key]} and {i} are the same; all {n} must differ")
        seen[key] = i
        if phase in SPATIAL_PHASES and not _names_body_part(item):
            raise InvalidAnswer(f"description {i} names no body part or joint (e.g. arm, hand, "
                                f"elbow, knee, torso): {item!r}")
        out.append(item)
    return out


def _names_body_part(text: str) -> bool:
    return any(word in BODY_WORDS for word in re.findall(r"[a-z]+", text.lower()))
