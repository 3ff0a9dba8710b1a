"""Import of the side information released with the paper's code.

The real release (fixture `semantics_dir`) is read where it is present; the error paths run
on small release-shaped folders written here.
"""

import json

import numpy as np
import pytest
import torch

from neuron.cli import main
from neuron.data.classnames import NTU120_CLASSES, PKU51_CLASSES
from neuron.side_info.cache import class_path, handwritten_phase, load_side_info, new_class_record, write_class_record
from neuron.side_info.official import OFFICIAL_MODEL, SOURCE_OFFICIAL, import_official, read_official
from neuron.side_info.prompts import PHASES, SPATIAL_PHASES, TEMPORAL_PHASES
from neuron.text import load_text_features

SPATIAL_FILES = ("cg", "mg", "fg")
TEMPORAL_JSON, TEMPORAL_TAR = ("fp", "sp", "tp"), ("fp", "fsp", "fstp")


def _released(root, folder, prefix):
    """({phase: JSON dict}, {phase: tensor}) read straight from the release files."""
    jsons, tars = {}, {}
    for phase, stem in zip(SPATIAL_PHASES, SPATIAL_FILES):
        jsons[phase] = json.loads((root / folder / "spatial" / f"spatial_{stem}.json").read_text())
        tars[phase] = torch.load(root / folder / "spatial" / f"{prefix}_gpt4omini_incontext_spatial_{stem}.tar",
                                 map_location="cpu")
    for phase, js, tar in zip(TEMPORAL_PHASES, TEMPORAL_JSON, TEMPORAL_TAR):
        jsons[phase] = json.loads((root / folder / "temporal" / f"temporal_{js}.json").read_text())
        tars[phase] = torch.load(root / folder / "temporal" / f"{prefix}_gpt4omini_incontext_temporal_{tar}.tar",
                                 map_location="cpu")
    return jsons, tars


@pytest.mark.parametrize("dataset, folder, prefix, k", [
    ("ntu120", "ntu", "ntu120", 120), ("ntu60", "ntu", "ntu120", 60), ("pku", "pku", "pkuv1", 51)])
def test_imported_side_info_equals_the_release(semantics_dir, dataset, folder, prefix, k):
    official = read_official(semantics_dir, dataset)
    jsons, tars = _released(semantics_dir, folder, prefix)
    assert len(official.class_names) == len(official.side_info) == k
    assert list(official.side_info) == list(official.class_names)
    for stream, phases in (("spatial", SPATIAL_PHASES), ("temporal", TEMPORAL_PHASES)):
        assert official.features[stream].dtype == np.float32
        assert official.features[stream].shape == (3, k, 10, 768)
        for p, phase in enumerate(phases):
            np.testing.assert_array_equal(official.features[stream][p], tars[phase][:k].numpy())
    for phase in PHASES:
        released = list(jsons[phase].values())[:k]
        assert [official.side_info[name][phase] for name in official.class_names] == released
    assert official.release_names == tuple(list(jsons[PHASES[0]])[:k])


def test_classes_map_to_the_projects_names(semantics_dir):
    ntu = read_official(semantics_dir, "ntu120")
    assert ntu.class_names == NTU120_CLASSES
    assert ntu.release_names[94] == "capitulate" and ntu.class_names[94] == "hands up (both hands)"
    assert ntu.release_names[2] == "brush teeth" and ntu.class_names[2] == "brushing teeth"
    pku = read_official(semantics_dir, "pku")
    assert pku.class_names == PKU51_CLASSES
    assert [name.casefold() for name in pku.release_names] == list(PKU51_CLASSES)


def test_import_writes_the_cache_and_the_features(semantics_dir, tmp_path):
    main(["side-info", "import-official", "--semantics", str(semantics_dir), "--dataset", "pku",
          "--cache-dir", str(tmp_path / "cache"), "--features-out", str(tmp_path / "pku_features.npz")])
    official = read_official(semantics_dir, "pku")
    for index in (0, 28, 50):
        name = PKU51_CLASSES[index]
        record = json.loads(class_path(tmp_path / "cache", "pku", index, name).read_text())
        assert (record["dataset"], record["class_index"], record["class_name"]) == ("pku", index, name)
        assert list(record["phases"]) == list(PHASES)
        for phase, entry in record["phases"].items():
            assert entry["descriptions"] == official.side_info[name][phase]
            assert json.loads(entry["answer"]) == {"descriptions": entry["descriptions"]}
            assert entry["provenance"]["source"] == SOURCE_OFFICIAL
            assert entry["provenance"]["model"] == OFFICIAL_MODEL
    features, names = load_text_features(tmp_path / "pku_features.npz")
    assert names == list(PKU51_CLASSES)
    for stream in ("spatial", "temporal"):
        np.testing.assert_array_equal(features[stream], official.features[stream])
    # The release was not written to this project's prompts: it loads on its shape alone.
    assert load_side_info(tmp_path / "cache", "pku", PKU51_CLASSES) == official.side_info
    import_official(semantics_dir, "pku", cache_dir=tmp_path / "cache")  # an earlier import may be replaced


# --- error paths on a small release-shaped folder ---------------------------------------------------

def _fake_release(root, names, n=2, dim=4, tensor_shape=None):
    for folder, stems in (("spatial", [f"spatial_{s}" for s in SPATIAL_FILES]),
                          ("temporal", [f"temporal_{s}" for s in TEMPORAL_JSON])):
        (root / "pku" / folder).mkdir(parents=True, exist_ok=True)
        for stem in stems:
            data = {name: [f"{name} {stem} {i}" for i in range(n)] for name in names}
            (root / "pku" / folder / f"{stem}.json").write_text(json.dumps(data))
    shape = tensor_shape or (len(names), n, dim)
    for folder, stems in (("spatial", SPATIAL_FILES), ("temporal", TEMPORAL_TAR)):
        for stem in stems:
            path = root / "pku" / folder / f"pkuv1_gpt4omini_incontext_{folder}_{stem}.tar"
            torch.save(torch.zeros(shape), path)
    return root


def test_a_well_formed_small_release_reads(tmp_path):
    official = read_official(_fake_release(tmp_path, PKU51_CLASSES), "pku")
    assert official.features["temporal"].shape == (3, 51, 2, 4)
    assert official.side_info["bow"]["temporal_end"] == ["bow temporal_tp 0", "bow temporal_tp 1"]


def test_release_errors_name_the_file(tmp_path):
    with pytest.raises(ValueError, match="known"):
        read_official(tmp_path, "utd")
    with pytest.raises(FileNotFoundError, match="pku"):
        read_official(tmp_path, "pku")
    wrong_names = list(PKU51_CLASSES)
    wrong_names[3] = "juggling"
    with pytest.raises(ValueError, match=r"spatial_cg.json.*position 3: 'juggling'"):
        read_official(_fake_release(tmp_path / "a", wrong_names), "pku")
    with pytest.raises(ValueError, match="lists 50 classes, expected 51"):
        read_official(_fake_release(tmp_path / "b", PKU51_CLASSES[:50]), "pku")
    with pytest.raises(ValueError, match=r"spatial_cg.tar: expected one float32 tensor \(51, 2, D\)"):
        read_official(_fake_release(tmp_path / "c", PKU51_CLASSES, tensor_shape=(51, 3, 4)), "pku")
    release = _fake_release(tmp_path / "d", PKU51_CLASSES)
    (release / "pku" / "temporal" / "pkuv1_gpt4omini_incontext_temporal_fstp.tar").unlink()
    with pytest.raises(FileNotFoundError, match="temporal_fstp.tar is missing"):
        read_official(release, "pku")
    release = _fake_release(tmp_path / "e", PKU51_CLASSES)
    data = json.loads((release / "pku" / "temporal" / "temporal_sp.json").read_text())
    (release / "pku" / "temporal" / "temporal_sp.json").write_text(json.dumps(dict(reversed(data.items()))))
    with pytest.raises(ValueError, match="temporal_sp.json lists other classes"):
        read_official(release, "pku")


def test_import_keeps_side_information_from_another_source(tmp_path):
    release = _fake_release(tmp_path / "release", PKU51_CLASSES)
    path = class_path(tmp_path / "cache", "pku", 5, PKU51_CLASSES[5])
    record = new_class_record("pku", 5, PKU51_CLASSES[5])
    record["phases"]["spatial_coarse"] = handwritten_phase(["both hands clap in front of the chest"] * 2, "p", "h")
    write_class_record(path, record)
    with pytest.raises(FileExistsError, match=str(path.name)):
        import_official(release, "pku", cache_dir=tmp_path / "cache")
    assert not class_path(tmp_path / "cache", "pku", 0, PKU51_CLASSES[0]).exists()  # checked before writing
