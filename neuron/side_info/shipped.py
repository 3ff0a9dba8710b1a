"""The side information shipped in data/side_info/, looked up by dataset name."""

from neuron import paths
from neuron.data.datasets import class_names
from neuron.side_info.cache import load_side_info

# NTU RGB+D 60's classes are the first 60 of NTU RGB+D 120: one set of records serves both.
_FOLDER = {"ntu60": "ntu120"}


def shipped_side_info(dataset: str, cache_dir=None) -> dict[str, dict[str, list[str]]]:
    """{class: {phase: [N_a descriptions]}} for every class of `dataset`, in label order.

    `cache_dir` defaults to the shipped data/side_info; point it at a folder written by
    `neuron side-info generate` to use your own descriptions.
    """
    folder = _FOLDER.get(dataset, dataset)
    cache_dir = paths.SIDE_INFO_DIR if cache_dir is None else cache_dir
    if not (cache_dir / folder).is_dir():
        raise FileNotFoundError(f"no side information for {dataset!r} in {cache_dir / folder}; write it with "
                                f"`neuron side-info generate --dataset {dataset} --model ... --cache-dir {cache_dir}`")
    return load_side_info(cache_dir, folder, class_names(dataset))
