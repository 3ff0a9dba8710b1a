"""The notebooks' parameters checked before any work, each error naming the value as the user wrote it.

Each numbered notebook calls, in the cell after its `parameters` cell,

    check_parameters(dataset=dataset, split=split, ...)   # the parameters it declares

and `neuron run` calls it once with the parameters given on its command line, before it runs any
notebook. A bad value raises a UserError, `parameter <name> = <value>: <what is wrong> (<fix>)`.

Papermill reads `-p split 48_12` as the integer 4812 (underscores are digit separators in
Python); such a split is matched back to its name (neuron.data.splits.resolve_split_name), and
one that matches none is shown with the spellings that give that integer.
"""

from numbers import Real

from neuron.errors import UserError

# Parameters that are counts: None (the dataset's default) or an integer >= 1.
COUNTS = ("epochs", "window", "batch_size", "pretrain_epochs", "split_pretrain_epochs", "max_per_class")


def check_parameters(**params) -> None:
    """Raise a UserError for the first bad value among `params` (notebook parameter names, see CHECKED)."""
    unknown = sorted(set(params) - set(CHECKED))
    if unknown:
        raise TypeError(f"check_parameters does not know the parameters {unknown}")
    dataset = params.get("dataset")
    if "dataset" in params:
        _check("dataset", dataset, _dataset, None)
    for name, value in params.items():
        if name != "dataset":
            _check(name, value, CHECKED[name], dataset)


def _check(name: str, value, check, dataset) -> None:
    try:
        problem = check(value, dataset)
    except ValueError as err:  # the library's own check (a UserError, or a ValueError naming the value)
        problem = str(err)
    if problem:
        raise UserError(f"parameter {name} = {_as_written(name, value)}: {problem}")


def _as_written(name: str, value) -> str:
    """The value as the user typed it: for a split papermill made an integer, the spellings behind it."""
    if name == "split" and isinstance(value, int) and not isinstance(value, bool) and value >= 10:
        digits = str(value)
        spellings = [f"{digits[:i]}_{digits[i:]}" for i in range(1, len(digits))]
        return f"{value} (papermill's reading of {', '.join(spellings[:-1])} or {spellings[-1]})"
    return repr(value)


# Each check returns None when the value is fine, or what is wrong with it (and how to fix it).

def _dataset(value, _):
    from neuron.data.datasets import dataset_info

    if not isinstance(value, str):
        return "must be a dataset name or a prepared dataset directory, in quotes"
    dataset_info(value)  # names the known datasets when it is neither


def _split(value, dataset):
    from neuron.data.splits import get_split

    get_split(dataset, value)  # None: the dataset's default


def _benchmark(value, dataset):
    from neuron.data.datasets import dataset_info

    benchmarks = dataset_info(dataset).benchmarks
    if value is not None and value not in benchmarks:
        return f"not a benchmark of {dataset} (choose one of {', '.join(benchmarks) or 'none'}, or None)"


def _text_encoder(value, _):
    from neuron.text.encoders import ENCODERS

    if value is not None and value not in ENCODERS:
        return f"unknown text encoder (choose one of {', '.join(sorted(ENCODERS))}, or None for the default)"


def _device(value, _):
    from neuron.device import resolve_device

    if not isinstance(value, str):
        return "must be a device name in quotes: auto, cpu, cuda or cuda:N"
    resolve_device(value)


def _count(value, _):
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        return "must be an integer >= 1, or None for the dataset's default"


def _learning_rate(value, _):
    if value is not None and (isinstance(value, bool) or not isinstance(value, Real) or not value > 0):
        return "must be a number > 0, or None for the dataset's default"


def _seed(value, _):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return "must be an integer >= 0"


def _example_class(value, dataset):
    from neuron.data.datasets import dataset_info

    count = dataset_info(dataset).num_classes
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < count:
        return f"must be a class index 0..{count - 1} of {dataset}"


def _recipe(value, _):
    from neuron.training.config import RECIPES

    return None if value in RECIPES else f"must be one of {', '.join(map(repr, RECIPES))}"


def _folder(value, _):
    if value is not None and not isinstance(value, str):
        return "must be a folder path in quotes, or None for results/"


def _flag(value, _):
    if not isinstance(value, bool):
        return "must be True or False"


def _table6_rows(value, _):
    from neuron.experiments.ablations import table6_rows

    table6_rows(value)


def _prototype_counts(value, _):
    from neuron.experiments.ablations import prototype_counts

    prototype_counts(value)


def _random_splits(value, dataset):
    from neuron.experiments.ablations import random_splits

    random_splits(dataset, value)


CHECKED = {"dataset": _dataset, "split": _split, "benchmark": _benchmark, "text_encoder": _text_encoder,
           "device": _device, "lr": _learning_rate, "seed": _seed, "example_class": _example_class,
           "results_dir": _folder, "progress": _flag, "table6_rows": _table6_rows,
           "spatial_counts": _prototype_counts, "temporal_counts": _prototype_counts,
           "random_splits": _random_splits, "recipe": _recipe, **{name: _count for name in COUNTS}}
