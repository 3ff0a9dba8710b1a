"""Zero-shot class splits: which classes of a dataset are unseen (held out of training).

A split is named "<seen>_<unseen>" (e.g. "48_12"), with a suffix "_k" where several fixed
splits share the counts, or "r1".."r3" for the random splits of the paper's Table 5 (NTU60,
PKU-MMD) and of SMIE (NTU120). Class indices are 0-based labels of the dataset.

A prepared dataset directory (e.g. your own, from `neuron prepare custom`) keeps its splits in
`splits.json` beside its meta.json, written by `add_split` (`neuron splits add DIR NAME --unseen
...`): {name: {"unseen": [labels], "unseen_names": [class names]}}. Such a directory is then
used like a registered dataset: `get_split("data/mine", "mine_a")`.

Papermill parses a parameter value "48_12" as the integer 4812 (underscores are digit
separators in Python literals); `resolve_split_name` maps such values back.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

from neuron.atomic import write_json
from neuron.data.datasets import DATASETS, class_names, dataset_dir, dataset_info
from neuron.errors import UserError

# Unseen classes of the splits used by the paper and its official code (see REFERENCE.md).
_UNSEEN = {
    "ntu60": {
        "55_5": (10, 11, 19, 26, 56),
        "48_12": (3, 5, 9, 12, 15, 40, 42, 47, 51, 56, 58, 59),
        "r1": (4, 19, 31, 47, 51),
        "r2": (12, 29, 32, 44, 59),
        "r3": (7, 20, 28, 39, 58),
    },
    "ntu120": {
        "110_10": (4, 13, 37, 43, 49, 65, 88, 95, 99, 106),
        "96_24": (5, 9, 11, 16, 18, 20, 22, 29, 35, 39, 45, 49, 59, 68, 70, 81, 84, 87, 93, 94,
                  104, 113, 114, 119),
        "r1": (3, 18, 26, 38, 41, 60, 87, 99, 102, 110),
        "r2": (5, 12, 14, 15, 17, 42, 67, 82, 100, 119),
        "r3": (6, 20, 27, 33, 42, 55, 71, 97, 104, 118),
    },
    "pku": {
        "46_5": (1, 9, 20, 34, 50),
        "39_12": (3, 7, 11, 15, 19, 21, 25, 31, 33, 36, 43, 48),
        "r1": (3, 14, 29, 31, 49),
        "r2": (2, 15, 39, 41, 43),
        "r3": (4, 12, 16, 22, 36),
    },
    # UTD-MHAD has no published zero-shot splits; these are ours. Every unseen class keeps a
    # close relative among the seen classes, so its description can be matched by transfer
    # rather than guessed, and the unseen classes spread over arm gestures, sports swings,
    # two-hand actions and whole-body/leg actions. The three 22/5 splits are disjoint.
    "utd": {
        # swipe right (swipe left seen), circle counter clockwise (clockwise seen), tennis
        # serve (forehand, basketball shoot seen), jogging (walking seen), stand to sit
        # (sit to stand seen)
        "22_5_1": (1, 9, 16, 21, 24),
        # swipe left (swipe right seen), draw triangle (draw x, circles seen), baseball swing
        # (tennis forehand, bowling seen), two hand push (front boxing, clap seen), squat
        # (forward lunge seen)
        "22_5_2": (0, 10, 13, 17, 26),
        # two hand front clap (two hand push, cross arms seen), right arm throw (pick up and
        # throw, basketball shoot seen), circle clockwise (counter clockwise seen), walking
        # (jogging seen), forward lunge (squat seen)
        "22_5_3": (3, 4, 8, 22, 25),
        # one member of each related group unseen: swipe right, circle counter clockwise,
        # draw triangle, baseball swing, tennis serve, two hand push, knock on door (hand wave
        # seen), catch an object (throw seen), pick up and throw, jogging, stand to sit, squat
        "15_12": (1, 9, 10, 13, 16, 17, 18, 19, 20, 21, 24, 26),
    },
}

_COUNTED_NAME = re.compile(r"(\d+)_(\d+)(?:_\d+)?")


@dataclass(frozen=True)
class Split:
    """A partition of a dataset's classes into seen (training) and unseen (zero-shot) classes."""

    dataset: str
    name: str
    unseen: tuple[int, ...]  # sorted 0-based labels held out of training
    seen: tuple[int, ...]  # sorted complement of `unseen` in range(num_classes)
    num_classes: int

    @classmethod
    def from_unseen(cls, dataset: str, name: str, unseen, num_classes: int) -> "Split":
        unseen = tuple(sorted(int(c) for c in unseen))
        seen = tuple(sorted(set(range(num_classes)) - set(unseen)))
        return cls(dataset, name, unseen, seen, num_classes)

    def __post_init__(self):
        where = f"split {self.dataset}/{self.name}"
        if len(set(self.unseen)) != len(self.unseen):
            raise ValueError(f"{where}: repeated unseen classes {self.unseen}")
        outside = [c for c in self.unseen if not 0 <= c < self.num_classes]
        if outside:
            raise ValueError(f"{where}: unseen classes {outside} outside 0..{self.num_classes - 1}")
        complement = tuple(sorted(set(range(self.num_classes)) - set(self.unseen)))
        if tuple(self.seen) != complement:
            raise ValueError(f"{where}: seen classes are not the sorted complement of the unseen")
        counted = _COUNTED_NAME.fullmatch(self.name)
        if counted and (int(counted[1]), int(counted[2])) != (len(self.seen), len(self.unseen)):
            raise ValueError(f"{where}: has {len(self.seen)} seen and {len(self.unseen)} unseen "
                             f"classes, but its name says {counted[1]} and {counted[2]}")

    @property
    def class_names(self) -> list[str]:
        return class_names(self.dataset)

    @property
    def seen_names(self) -> list[str]:
        names = self.class_names
        return [names[c] for c in self.seen]

    @property
    def unseen_names(self) -> list[str]:
        names = self.class_names
        return [names[c] for c in self.unseen]


SPLITS_FILE = "splits.json"
_SPLIT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _unseen_table(dataset) -> dict[str, tuple[int, ...]]:
    if dataset not in DATASETS:
        return {name: tuple(entry["unseen"]) for name, entry in _stored_splits(dataset).items()}
    if dataset == "synthetic":
        # Imported here: the synthetic dataset module is optional for the real datasets.
        from neuron.data.synthetic import UNSEEN_SPLITS
        return {name: tuple(unseen) for name, unseen in UNSEEN_SPLITS.items()}
    return _UNSEEN[dataset]


# The split a notebook or command uses when none is named: the paper's headline split.
DEFAULT_SPLITS = {"ntu60": "55_5", "ntu120": "110_10", "pku": "46_5", "utd": "22_5_1", "synthetic": "56_12"}


def _stored_splits(dataset) -> dict[str, dict]:
    """The splits stored in a prepared directory's splits.json ({} when it has none)."""
    path = dataset_dir(dataset) / SPLITS_FILE
    if not path.is_file():
        return {}
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        ok = isinstance(stored, dict) and all(isinstance(e, dict) and isinstance(e.get("unseen"), list)
                                              for e in stored.values())
    except (json.JSONDecodeError, UnicodeDecodeError):
        ok = False
    if not ok:
        raise UserError(f"{path} is not a splits file ({{name: {{\"unseen\": [labels]}}}}); delete it and "
                        f"add the splits again with `neuron splits add {dataset} NAME --unseen ...`")
    names = class_names(dataset)
    for name, entry in stored.items():  # a dataset prepared again with other classes
        if entry.get("unseen_names") != [names[c] if 0 <= c < len(names) else None for c in entry["unseen"]]:
            raise UserError(f"{path}: split {name} names unseen classes {entry.get('unseen_names')} that are not "
                            f"the dataset's classes {entry['unseen']}; delete {path} and add the splits again")
    return stored


def _no_split_hint(dataset) -> str:
    return f"add one with `neuron splits add {dataset} NAME --unseen CLASS [CLASS ...]`"


def default_split_name(dataset) -> str:
    """The split used when none is named: the paper's headline split (DEFAULT_SPLITS), or the
    first split stored in a prepared directory."""
    if dataset in DEFAULT_SPLITS:
        return DEFAULT_SPLITS[dataset]
    names = split_names(dataset)
    if not names:
        raise UserError(f"{dataset} has no zero-shot split; {_no_split_hint(dataset)}")
    return names[0]


def split_names(dataset) -> list[str]:
    """Names of the splits defined for `dataset` (a name or a prepared directory)."""
    return list(_unseen_table(dataset))


def _class_index(token, names: list[str]) -> int | None:
    """The label meant by `token`: a class name (exact, else ignoring case and spaces), or a
    0-based index written as digits when no class has that name."""
    token = str(token)
    if token in names:
        return names.index(token)
    folded = [i for i, n in enumerate(names) if " ".join(n.lower().split()) == " ".join(token.lower().split())]
    if len(folded) == 1:
        return folded[0]
    if token.isdigit() and int(token) < len(names):
        return int(token)
    return None


def add_split(dataset, name: str, unseen) -> Split:
    """Store the split `name` of the prepared directory `dataset`: `unseen` are class names or
    0-based indices. Re-adding the same split is a no-op; another split under a stored name,
    an unknown class or a split that leaves fewer than two seen classes is refused."""
    if dataset in DATASETS:
        raise UserError(f"{dataset}'s splits are registered in neuron/data/splits.py; splits can be added "
                        "to a prepared directory (e.g. data/mine from `neuron prepare custom`)")
    if not _SPLIT_NAME.fullmatch(str(name)):
        raise UserError(f"split name {name!r} must start with a letter or digit and hold only letters, "
                        "digits, '_', '.' or '-' (it names run folders)")
    names = class_names(dataset)
    labels = [_class_index(token, names) for token in unseen]
    unknown = [str(t) for t, label in zip(unseen, labels) if label is None]
    if unknown:
        listed = ", ".join(f"{i}: {n}" for i, n in enumerate(names))
        raise UserError(f"{dataset} has no class {', '.join(map(repr, unknown))}; its classes are {listed}")
    if len(set(labels)) != len(labels):
        raise UserError(f"split {name}: a class is named twice in --unseen {list(unseen)}")
    if not labels or len(names) - len(labels) < 2:
        raise UserError(f"split {name}: {len(labels)} unseen of {len(names)} classes; a split needs at least "
                        "one unseen class and two seen ones")
    try:
        split = Split.from_unseen(str(dataset), str(name), labels, len(names))  # checks a counted name
    except ValueError as err:
        raise UserError(str(err)) from None
    stored = _stored_splits(dataset)
    if name in stored and tuple(stored[name]["unseen"]) != split.unseen:
        raise UserError(f"{dataset} already has a split {name} with other unseen classes "
                        f"{stored[name].get('unseen_names', stored[name]['unseen'])}; choose another name")
    stored[name] = {"unseen": list(split.unseen), "unseen_names": split.unseen_names}
    write_json(Path(dataset_dir(dataset)) / SPLITS_FILE, stored)
    return split


def resolve_split_name(dataset: str, value) -> str:
    """The split name meant by `value`: a name ("48_12", "r1"), or the integer papermill makes
    of one (4812), matched by its digits. Raises ValueError when none or several match."""
    names = split_names(dataset)
    if not names:
        raise UserError(f"{dataset} has no split {value!r}: it has no zero-shot split yet; {_no_split_hint(dataset)}")
    if isinstance(value, str) and value in names:
        return value
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise UserError(f"split must be a name or an integer, got {value!r}; "
                        f"{dataset} splits: {', '.join(names)}")
    digits = str(value)
    matches = [n for n in names if n.replace("_", "") == digits]
    if len(matches) != 1:
        problem = "matches several splits" if matches else "is not a split"
        raise UserError(f"{value!r} {problem} of {dataset}; {dataset} splits: {', '.join(names)}")
    return matches[0]


def get_split(dataset: str, name=None) -> Split:
    """The split `name` of `dataset` (a name, or its papermill integer: see resolve_split_name);
    None gives the dataset's default split (DEFAULT_SPLITS)."""
    if name is None:
        name = default_split_name(dataset)
    name = resolve_split_name(dataset, name)
    return Split.from_unseen(dataset, name, _unseen_table(dataset)[name],
                             dataset_info(dataset).num_classes)


def list_splits(dataset: str | None = None) -> list[Split]:
    """Every split of `dataset`, or of all datasets when it is None."""
    datasets = DATASETS if dataset is None else (dataset,)
    return [get_split(d, name) for d in datasets for name in split_names(d)]
