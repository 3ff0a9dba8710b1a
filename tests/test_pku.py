"""PKU-MMD phase I loader, on a small fake raw tree in the dataset's real file formats."""

import shutil

import numpy as np
import pytest

from neuron.data.geometry import translate_to_origin
from neuron.data.layouts import NTU25
from neuron.data.pku import (
    MalformedFileError,
    find_raw_dirs,
    fit_length,
    prepare_pku,
    read_label_file,
    read_skeleton_file,
    read_split_file,
)
from neuron.data.store import DatasetWriter, load_dataset, read_manifest, read_meta

SPINE = NTU25.center  # middle of spine, joint index 1

# video -> (number of frames, [(label, start, end, confidence)], frames where body 2 appears)
RECORDINGS = {
    "0002-L": (400, [(1, 10, 60, 1), (12, 80, 160, 2), (51, 200, 230, 1)], (90, 150)),
    "0002-M": (380, [(5, 0, 40, 2), (33, 20, 370, 1)], None),  # overlapping; the 2nd > 300 frames
    "0003-R": (300, [(22, 100, 190, 1), (8, 250, 300, 2)], (0, 300)),
    "0004-L": (250, [(17, 30, 90, 1)], None),
}
SPLITS = {  # the official files' layout, typo included
    "cross-subject.txt": "Training videos: \n0002-L, 0002-M\nValidataion videos: \n0003-R, 0004-L\n",
    "cross-view.txt": "Training videos: \n0002-M, 0003-R\nValidataion videos: \n0002-L, 0004-L\n",
}
LATE_START = 5  # body 1 of 0002-L only appears at frame 15, inside its first clip [10, 60)


def fake_recording(video, num_frames, body2_frames, seed):
    """(T, 150) frames of exactly printable values (multiples of 1/64), body 2 zero when absent."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(-128, 128, size=(num_frames, 150)).astype(np.float64) / 64
    frames[frames == 0] = 1 / 64  # zeros mean "absent"
    second = np.zeros(num_frames, dtype=bool)
    if body2_frames:
        second[slice(*body2_frames)] = True
    frames[~second, 75:] = 0
    if video == "0002-L":
        frames[10:10 + LATE_START] = 0  # nobody in the clip's first frames
    return frames


def build_raw_tree(root, recordings=RECORDINGS, splits=SPLITS):
    skeleton_dir = root / "PKUMMD" / "Data" / "PKU_Skeleton_Renew"
    label_dir = root / "PKUMMD" / "Label" / "Train_Label_PKU_final"
    split_dir = root / "PKUMMD" / "Split"
    for d in (skeleton_dir, label_dir, split_dir):
        d.mkdir(parents=True)
    raw = {}
    for seed, (video, (num_frames, actions, body2)) in enumerate(recordings.items()):
        raw[video] = fake_recording(video, num_frames, body2, seed)
        np.savetxt(skeleton_dir / f"{video}.txt", raw[video], fmt="%.6f")
        (label_dir / f"{video}.txt").write_text("".join(f"{a},{s},{e},{c}\n" for a, s, e, c in actions))
    for name, text in splits.items():
        (split_dir / name).write_text(text)
    return raw


def expected_clip(frames, start, end):
    """Independent re-statement of the conversion: (3, end-start, 25, 2), NTU-style translation."""
    clip = frames[start:end].astype(np.float32).reshape(end - start, 2, 25, 3)
    first = next(t for t in range(len(clip)) if clip[t, 0].any())
    origin = clip[first, 0, SPINE].copy()
    out = np.zeros_like(clip)
    for t in range(len(clip)):
        for m in range(2):
            for v in range(25):
                if clip[t, m, v].any():
                    out[t, m, v] = clip[t, m, v] - origin
    return out.transpose(3, 0, 2, 1)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("pku")
    raw = build_raw_tree(root / "raw")
    out = prepare_pku(root / "raw", root / "prepared", workers=1)
    return root, raw, out


def test_clips_labels_and_benchmarks(prepared):
    root, raw, out = prepared
    data = load_dataset(out)
    m = data.manifest
    assert list(m["name"]) == ["0002-L_000", "0002-L_001", "0002-L_002", "0002-M_000", "0002-M_001",
                               "0003-R_000", "0003-R_001", "0004-L_000"]
    expected_labels = [a - 1 for v in RECORDINGS.values() for a, *_ in v[1]]
    assert list(m["label"]) == expected_labels
    assert data.x.shape == (8, 3, 300, 25, 2) and data.x.dtype == np.float32
    assert data.layout.name == "ntu25" and data.name == "pku"
    assert len(data.class_names) == 51
    assert list(m["confidence"]) == [c for v in RECORDINGS.values() for *_, c in v[1]]
    assert list(m["view"]) == ["L", "L", "L", "M", "M", "R", "R", "L"]
    assert list(m["xsub"]) == ["train"] * 5 + ["test"] * 3
    assert list(m["xview"]) == ["test"] * 3 + ["train"] * 4 + ["test"]
    meta = read_meta(out)
    assert meta["benchmarks"] == ["xsub", "xview"] and meta["max_frames"] == 300


def test_clip_content_lengths_and_translation(prepared):
    _, raw, out = prepared
    data = load_dataset(out)
    for row, x in zip(data.manifest.itertuples(), data.x):
        if row.end - row.start > 300:
            continue
        assert row.frames == row.end - row.start
        want = expected_clip(raw[row.video], row.start, row.end)
        np.testing.assert_array_equal(x[:, :row.frames], want)
        assert not x[:, row.frames:].any(), "padding must be zero"
    # 0002-L_000: nobody in its first 5 frames; the origin is body 1's spine at frame 5.
    first = data.x[0]
    assert not first[:, :LATE_START].any()
    np.testing.assert_array_equal(first[:, LATE_START, SPINE, 0], 0)
    assert np.abs(first[:, LATE_START + 1, SPINE, 0]).sum() > 0
    # Body 2 of 0002-L is present only in frames [90, 150): clip [80, 160) has it at 10..69.
    second = data.x[1, :, :, :, 1]
    present = np.any(second != 0, axis=(0, 2))
    assert present[10:70].all() and not present[:10].any() and not present[70:].any()


def test_long_clip_is_subsampled_not_cropped(prepared):
    _, raw, out = prepared
    data = load_dataset(out)
    row = data.manifest.index[data.manifest["name"] == "0002-M_001"][0]
    assert data.manifest.loc[row, "frames"] == 300
    assert (data.manifest.loc[row, "start"], data.manifest.loc[row, "end"]) == (20, 370)
    full = expected_clip(raw["0002-M"], 20, 370)  # 350 frames
    np.testing.assert_array_equal(data.x[row][:, 0], full[:, 0])
    np.testing.assert_array_equal(data.x[row][:, -1], full[:, -1])  # the last frame is kept
    np.testing.assert_array_equal(data.x[row], full[:, np.round(np.linspace(0, 349, 300)).astype(int)])


def test_workers_give_identical_output(prepared, tmp_path):
    root, _, out = prepared
    parallel = prepare_pku(root / "raw", tmp_path / "parallel", workers=2)
    a, b = load_dataset(out), load_dataset(parallel)
    np.testing.assert_array_equal(a.x, b.x)
    assert a.manifest.drop(columns="shard").equals(b.manifest.drop(columns="shard"))


def test_resume_reads_only_missing_recordings(prepared, tmp_path, capsys):
    root, _, out = prepared
    raw = tmp_path / "raw"
    shutil.copytree(root / "raw", raw)
    partial = tmp_path / "partial"
    shutil.copytree(out, partial)
    # Interrupted after two recordings: the last two shards and the final files are missing.
    for f in ["manifest.csv", "meta.json", "skeletons-00002.npz", "skeletons-00003.npz"]:
        (partial / f).unlink()
    # A recording already written is not read again: corrupting its file changes nothing.
    (raw / "PKUMMD/Data/PKU_Skeleton_Renew/0002-L.txt").write_text("garbage\n")
    prepare_pku(raw, partial, workers=1)
    assert "0002-L" not in capsys.readouterr().err
    a, b = load_dataset(out), load_dataset(partial)
    np.testing.assert_array_equal(a.x, b.x)
    assert a.manifest.equals(b.manifest)
    # A resume with another clip length would mix shapes: refused.
    (partial / "skeletons-00003.npz").unlink()
    with pytest.raises(ValueError, match="max_frames=300"):
        prepare_pku(raw, partial, workers=1, max_frames=100)


def test_malformed_inputs_are_reported_and_skipped(tmp_path, capsys, monkeypatch):
    recordings = {**RECORDINGS,
                  "0005-L": (100, [(3, 10, 50, 1)], None),
                  "0006-M": (100, [(4, 10, 50, 1)], None)}
    splits = {"cross-subject.txt": "Training videos: \n0002-L, 0002-M, 0005-L, 0006-M, 0009-L\n"
                                   "Validataion videos: \n0003-R, 0004-L\n",
              "cross-view.txt": SPLITS["cross-view.txt"].replace("0004-L\n", "0004-L, 0005-L, 0006-M, 0009-L\n")}
    build_raw_tree(tmp_path / "raw", recordings, splits)
    skeletons = tmp_path / "raw/PKUMMD/Data/PKU_Skeleton_Renew"
    labels = tmp_path / "raw/PKUMMD/Label/Train_Label_PKU_final"
    lines = (skeletons / "0005-L.txt").read_text().splitlines()
    lines[6] = " ".join(lines[6].split()[:149])  # line 7: a value missing
    (skeletons / "0005-L.txt").write_text("\n".join(lines) + "\n")
    lines = (skeletons / "0006-M.txt").read_text().splitlines()
    lines[2] = lines[2].replace(lines[2].split()[40], "abc", 1)  # line 3: not a number
    (skeletons / "0006-M.txt").write_text("\n".join(lines) + "\n")
    with open(labels / "0004-L.txt", "a") as f:
        f.write("12,200,260,1\n"  # line 2: ends after the 250-frame recording
                "7,abc,12,1\n"  # line 3: not an integer
                "52,10,20,1\n"  # line 4: no such class
                "9,40,40,1\n")  # line 5: empty interval
    np.savetxt(skeletons / "0007-R.txt", np.ones((5, 150)))  # no label file, in no split

    # A first run is interrupted after writing every shard: its skip list must survive.
    def interrupted(self):
        raise KeyboardInterrupt
    monkeypatch.setattr(DatasetWriter, "finish", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare_pku(tmp_path / "raw", tmp_path / "out", workers=1)
    monkeypatch.undo()
    capsys.readouterr()
    out = prepare_pku(tmp_path / "raw", tmp_path / "out", workers=1)

    names = list(read_manifest(out)["name"])
    assert names == ["0002-L_000", "0002-L_001", "0002-L_002", "0002-M_000", "0002-M_001",
                     "0003-R_000", "0003-R_001", "0004-L_000"]
    skipped = (out / "skipped.csv").read_text()
    err = capsys.readouterr().err
    expected = [f"0005-L: {skeletons / '0005-L.txt'}:7: 149 values, expected 150",
                f"0006-M: {skeletons / '0006-M.txt'}:3: non-numeric value 'abc'",
                f"0004-L_001: {labels / '0004-L.txt'}:2: interval [200, 260) ends after the recording's 250 frames",
                f"0004-L_002: {labels / '0004-L.txt'}:3: expected 4 integers",
                f"0004-L_003: {labels / '0004-L.txt'}:4: label 52 outside 1..51",
                f"0004-L_004: {labels / '0004-L.txt'}:5: empty or negative frame interval [40, 40)",
                "0007-R: ", "no label file 0007-R.txt",
                "0009-L: ", "no skeleton file 0009-L.txt"]
    for text in expected:
        assert text in err
    assert "8 items skipped" in err
    assert len(skipped.splitlines()) == 1 + 8
    assert "0005-L,0005-L," in skipped and ",7," in skipped


def test_skeleton_reader_rejects_blank_lines_and_nan(tmp_path):
    path = tmp_path / "0001-L.txt"
    row = " ".join(["0.5"] * 150)
    path.write_text(f"{row}\n\n{row}\n")
    with pytest.raises(MalformedFileError, match=r"0001-L.txt:2: empty line"):
        read_skeleton_file(path)
    path.write_text(f"{row}\n{row.replace('0.5', 'nan', 1)}\n")
    with pytest.raises(MalformedFileError, match=r":2: non-finite value 'nan'"):
        read_skeleton_file(path)
    path.write_text("")
    with pytest.raises(MalformedFileError, match="empty file"):
        read_skeleton_file(path)
    path.write_text(f"  {row}  \r\n{row}\t\n")  # stray whitespace and CRLF are fine
    assert read_skeleton_file(path).shape == (3, 2, 25, 2)


def test_label_reader_keeps_line_numbers(tmp_path):
    path = tmp_path / "0001-L.txt"
    path.write_text("3,10,20,1\r\n\n 5 , 30 , 45 , 2 \n")
    intervals, problems = read_label_file(path, "0001-L")
    assert problems == []
    assert [(i.index, i.label, i.start, i.end, i.confidence) for i in intervals] == [
        (0, 3, 10, 20, 1), (2, 5, 30, 45, 2)]


def test_split_reader(tmp_path):
    path = tmp_path / "cross-view.txt"
    path.write_text(SPLITS["cross-view.txt"])
    assert read_split_file(path) == {"0002-M": "train", "0003-R": "train", "0002-L": "test", "0004-L": "test"}
    path.write_text("Training videos: \n0002-M\n")
    with pytest.raises(MalformedFileError, match="cross-view.txt: expected a 'Training videos:'"):
        read_split_file(path)
    path.write_text("Training videos: \n0002-M\nValidataion videos: \n0002-M\n")
    with pytest.raises(MalformedFileError, match=r"cross-view.txt:4: video 0002-M is listed as both"):
        read_split_file(path)
    path.write_text("0002-M\nTraining videos: \n")
    with pytest.raises(MalformedFileError, match=r":1: video id '0002-M' before"):
        read_split_file(path)


def test_discovery_names_what_is_missing(tmp_path):
    build_raw_tree(tmp_path / "raw", {"0002-L": RECORDINGS["0002-L"]})
    skeleton_dir, label_dir, split_dir = find_raw_dirs(tmp_path / "raw")
    assert (skeleton_dir.name, label_dir.name, split_dir.name) == (
        "PKU_Skeleton_Renew", "Train_Label_PKU_final", "Split")
    (split_dir / "cross-view.txt").unlink()
    with pytest.raises(FileNotFoundError, match="no PKU-MMD split directory .*cross-view.txt"):
        find_raw_dirs(tmp_path / "raw")
    with pytest.raises(FileNotFoundError, match="lacks cross-view.txt"):
        prepare_pku(tmp_path / "raw", tmp_path / "out", split_dir=split_dir)
    with pytest.raises(FileNotFoundError, match="skeleton directory .*nowhere does not exist"):
        find_raw_dirs(tmp_path / "raw", skeleton_dir=tmp_path / "nowhere")
    shutil.copytree(skeleton_dir, tmp_path / "raw" / "skeleton_copy")
    with pytest.raises(ValueError, match="several PKU-MMD skeleton directories"):
        find_raw_dirs(tmp_path / "raw", split_dir=split_dir)
    shutil.rmtree(label_dir)
    with pytest.raises(FileNotFoundError, match="no PKU-MMD label directory"):
        find_raw_dirs(tmp_path / "raw", skeleton_dir=skeleton_dir, split_dir=split_dir)


def test_translate_to_origin():
    x = np.zeros((3, 4, 25, 2), dtype=np.float32)
    x[:, 1:, :, 0] = np.arange(1, 3 * 3 * 25 + 1, dtype=np.float32).reshape(3, 3, 25)
    x[:, 2, 7, 0] = 0  # an untracked joint stays zero
    out = translate_to_origin(x, SPINE)
    np.testing.assert_array_equal(out[:, 1, SPINE, 0], 0)
    np.testing.assert_array_equal(out[:, 3, 4, 0], x[:, 3, 4, 0] - x[:, 1, SPINE, 0])
    assert not out[:, 0].any() and not out[:, 2, 7, 0].any() and not out[..., 1].any()
    # Body 1 never appears: body 2's first frame gives the origin.
    swapped = x[..., ::-1].copy()
    np.testing.assert_array_equal(translate_to_origin(swapped, SPINE)[..., 1], out[..., 0])
    with pytest.raises(ValueError, match="no body"):
        translate_to_origin(np.zeros_like(x), SPINE)


def test_fit_length():
    x = np.arange(1, 3 * 10 * 2 * 1 + 1, dtype=np.float32).reshape(3, 10, 2, 1)
    padded = fit_length(x, 12)
    assert padded.shape == (3, 12, 2, 1)
    np.testing.assert_array_equal(padded[:, :10], x)
    assert not padded[:, 10:].any()
    short = fit_length(x, 4)
    np.testing.assert_array_equal(short, x[:, [0, 3, 6, 9]])
