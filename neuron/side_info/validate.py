"""Checks an LLM answer must pass before its descriptions are accepted.

An answer is one JSON object {"descriptions": [...]} (one surrounding markdown code fence,
which many local models add despite being told not to, is tolerated). Its descriptions must be

- exactly N_a items, each a non-empty string with at least one letter (a constrained model
  that has nothing to say fills the slots with numbers, dates or punctuation);
- distinct once case, punctuation and whitespace are ignored (copies add nothing to the mean
  of the class's text features);
- as many words as the turn's prompt asks for (PHASE_WORDS, the ranges written in prompts/):
  shorter is a label rather than a description; longer goes towards the 77-token context of
  the CLIP text encoder, which truncates. The descriptions released with the paper have 5..41
  words;
- for the three spatial phases, each must name at least one body part or joint (BODY_WORDS),
  since those turns ask how the body moves. This is stricter than the released descriptions:
  about a quarter of their NTU classes have a spatial description that names only objects
  ("place stapler over papers, press firmly"). Temporal descriptions are not checked for
  vocabulary: they describe a moment of the movement ("setting the glass back down"), often
  without naming a body part;
- for a new answer (parse_answer), free of the names of the similar classes the turn asked to
  tell the action apart from, as the prompt says. Cached records are not checked for this:
  the similar classes of a cached conversation are in its prompts, not in the record's fields.

The error messages are written to be sent back to the model, which is asked to fix its answer.
"""

import json
import re

from neuron.side_info.prompts import (
    SPATIAL_COARSE,
    SPATIAL_FINE,
    SPATIAL_MID,
    SPATIAL_PHASES,
    TEMPORAL_END,
    TEMPORAL_MIDDLE,
    TEMPORAL_START,
)

# (fewest, most) words of one description, as each turn's prompt asks (tests check the two agree)
PHASE_WORDS = {SPATIAL_COARSE: (5, 20), SPATIAL_MID: (8, 30), SPATIAL_FINE: (12, 45),
               TEMPORAL_START: (5, 25), TEMPORAL_MIDDLE: (5, 25), TEMPORAL_END: (5, 25)}

BODY_WORDS = frozenset("""
    body head face forehead eye eyes ear ears nose nostril nostrils cheek cheeks mouth lip lips
    jaw chin neck shoulder shoulders arm arms forearm forearms elbow elbows wrist wrists hand
    hands palm palms finger fingers fingertips thumb thumbs fist fists knuckles nail nails chest
    torso trunk back spine waist stomach abdomen belly hip hips pelvis buttocks butt lap leg legs
    thigh thighs knee knees shin shins calf calves ankle ankles foot feet heel heels toe toes
    limb limbs joint joints
""".split())

_FENCE = re.compile(r"^```[a-zA-Z]*\s*\n(.*)\n\s*```$", re.DOTALL)
_LETTER = re.compile(r"[^\W\d_]")  # a letter of any script
_WORD = re.compile(r"[^\W_]+")  # a run of letters and digits


class InvalidAnswer(ValueError):
    """An answer that cannot be used; the message says why, for the model to fix."""


def parse_answer(text, n: int, phase: str, action: str = "", similar=()) -> list[str]:
    """The `n` descriptions of `action` in an assistant message, with runs of whitespace collapsed.

    similar: the names of the classes the turn asked to tell `action` apart from.
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidAnswer("the answer was empty")
    text = text.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    try:
        # strict=False: a raw newline or tab inside a string (SmolLM2 wrote them under
        # llama.cpp's JSON grammar) is whitespace like any other, collapsed below
        obj = json.loads(text, strict=False)
    except json.JSONDecodeError as err:
        raise InvalidAnswer(f"the answer is not valid JSON ({err.msg} at character {err.pos})") from None
    if not isinstance(obj, dict) or "descriptions" not in obj:
        raise InvalidAnswer('the answer is not a JSON object with the key "descriptions"')
    descriptions = check_descriptions(obj["descriptions"], n, phase)
    check_not_naming(descriptions, action, similar)
    return descriptions


def check_descriptions(descriptions, n: int, phase: str) -> list[str]:
    """Apply the rules of the module docstring but the last; return the descriptions with
    whitespace collapsed."""
    if not isinstance(descriptions, list):
        raise InvalidAnswer(f'"descriptions" must be a list of strings, got {type(descriptions).__name__}')
    if len(descriptions) != n:
        raise InvalidAnswer(f"expected exactly {n} descriptions, got {len(descriptions)}")
    fewest, most = PHASE_WORDS[phase]
    out, seen = [], {}
    for i, item in enumerate(descriptions, start=1):
        if not isinstance(item, str) or not item.strip():
            raise InvalidAnswer(f"description {i} is not a non-empty string: {item!r}")
        item = " ".join(item.split())
        if not _LETTER.search(item):
            raise InvalidAnswer(f"description {i} has no words, only digits or symbols: {item!r}")
        words = len(item.split())
        if not fewest <= words <= most:
            raise InvalidAnswer(f"description {i} has {words} words; this turn asks for {fewest} to "
                                f"{most} words in each: {item!r}")
        key = tuple(_words(item))
        if key in seen:
            raise InvalidAnswer(f"descriptions {seen[key]} and {i} are the same; all {n} must differ")
        seen[key] = i
        if phase in SPATIAL_PHASES and not _names_body_part(item):
            raise InvalidAnswer(f"description {i} names no body part or joint (e.g. arm, hand, "
                                f"elbow, knee, torso): {item!r}")
        out.append(item)
    return out


def check_not_naming(descriptions, action: str, similar) -> None:
    """Reject a description that names one of the `similar` classes (word for word, ignoring
    case and punctuation). A similar name inside the action's own name ("walking" for "walking
    towards each other") cannot be avoided, so it is allowed."""
    own = _words(action)
    names = [(name, _words(name)) for name in similar]
    names = [(name, words) for name, words in names if words and not _contains(own, words)]
    for i, item in enumerate(descriptions, start=1):
        words = _words(item)
        for name, name_words in names:
            if _contains(words, name_words):
                raise InvalidAnswer(f'description {i} names the similar action "{name}"; tell the '
                                    f"actions apart without naming it: {item!r}")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def _contains(words: list[str], part: list[str]) -> bool:
    return any(words[k:k + len(part)] == part for k in range(len(words) - len(part) + 1))


def _names_body_part(text: str) -> bool:
    return any(word in BODY_WORDS for word in re.findall(r"[a-z]+", text.lower()))
