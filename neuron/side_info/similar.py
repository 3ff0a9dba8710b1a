"""Default 'similar classes' of each class, from the words their names share.

Each turn of a class's conversation names the classes its descriptions must be told apart
from. Without a hand-made mapping, two classes count as similar when their names share
content words: names are lower-cased, split into words, stripped of function words
(articles, prepositions, conjunctions) and crudely stemmed ("kicking" -> "kick",
"hands" -> "hand", "wave"/"waving" -> "wav"), and scored by the Jaccard overlap of these
word sets. The `k` best-scoring classes with overlap > 0 are kept, ties broken by class order,
so the result is deterministic. E.g. "put on a hat/cap" is similar to "take off a hat/cap"
and "throw up cap/hat"; "kicking something" to "kicking other person".
"""

import re

FUNCTION_WORDS = frozenset(
    "a an the of to in into on at from with for by and or each one".split()
)


def _stem(word: str) -> str:
    if word.endswith("ing") and len(word) > 5:
        word = word[:-3]
        if word[-1] == word[-2]:  # hopping -> hopp -> hop
            word = word[:-1]
    elif word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        word = word[:-1]
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def name_words(name: str) -> frozenset[str]:
    """The stemmed content words of a class name."""
    words = re.findall(r"[a-z0-9]+", name.lower())
    return frozenset(_stem(w) for w in words if w not in FUNCTION_WORDS)


def similar_by_token_overlap(class_names, k: int = 5) -> dict[str, list[str]]:
    """Map each class name to at most `k` other class names whose names share words with it."""
    words = [name_words(name) for name in class_names]
    similar = {}
    for i, name in enumerate(class_names):
        scored = []
        for j, other in enumerate(class_names):
            shared = len(words[i] & words[j])
            if j != i and shared:
                scored.append((-shared / len(words[i] | words[j]), j, other))
        similar[name] = [other for _, _, other in sorted(scored)[:k]]
    return similar
