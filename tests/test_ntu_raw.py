"""The NTU `.skeleton` reader: real samples against their text, number edge cases, bad files."""

import pickle
import shutil

import numpy as np
import pytest

from neuron.data.ntu_raw import BODY_FIELDS, JOINT_FIELDS, NUM_JOINTS, NTUFormatError, read_skeleton, read_skeletons

# name: (frames, body records, distinct bodyIDs)
SAMPLES = {
    "S001C001P001R001A011": (82, 82, 1),
    "S001C003P008R002A058": (70, 140, 2),
    "S002C001P003R001A003": (100, 100, 1),
    "S003C001P015R001A034": (71, 71, 1),
    "S004C002P003R001A017": (124, 124, 1),
}


def text_lines(path) -> list[str]:
    return path.read_text().splitlines()


def floats(line: str) -> np.ndarray:
    return np.array([float(v) for v in line.split()], dtype=np.float32)


def plain_read(path):
    """An independent line-by-line reader: (num_frames, frame, ids, fields, joints)."""
    lines = text_lines(path)
    frame_ids, ids, fields, joints, i = [], [], [], [], 1
    for frame in range(int(lines[0])):
        bodies = int(lines[i])
        i += 1
        for _ in range(bodies):
            ids.append(int(lines[i].split()[0]))
            fields.append(floats(lines[i])[1:])
            joints.append([floats(line) for line in lines[i + 2:i + 2 + int(lines[i + 1])]])
            frame_ids.append(frame)
            i += 2 + NUM_JOINTS
    assert i == len(lines)
    return (int(lines[0]), np.array(frame_ids), np.array(ids, np.uint64), np.array(fields),
            np.array(joints))


@pytest.mark.parametrize("name", SAMPLES)
def test_real_sample_counts(ntu_samples_dir, name):
    skeleton = read_skeleton(ntu_samples_dir / f"{name}.skeleton")
    frames, records, people = SAMPLES[name]
    assert skeleton.name == name
    assert skeleton.num_frames == frames
    assert skeleton.joints.shape == (records, NUM_JOINTS, len(JOINT_FIELDS))
    assert skeleton.body_fields.shape == (records, len(BODY_FIELDS))
    assert len(np.unique(skeleton.body_id)) == people
    assert skeleton.bodies_per_frame().tolist() == [records // frames] * frames
    assert skeleton.joints.dtype == skeleton.body_fields.dtype == np.float32


@pytest.mark.parametrize("name", SAMPLES)
def test_real_sample_equals_plain_reader(ntu_samples_dir, name):
    path = ntu_samples_dir / f"{name}.skeleton"
    skeleton = read_skeleton(path)
    num_frames, frame, ids, fields, joints = plain_read(path)
    assert skeleton.num_frames == num_frames
    np.testing.assert_array_equal(skeleton.frame, frame)
    np.testing.assert_array_equal(skeleton.body_id, ids)
    # Bit for bit what float() gives, rounded to float32.
    np.testing.assert_array_equal(skeleton.body_fields, fields)
    np.testing.assert_array_equal(skeleton.joints, joints)


def test_two_body_sample_lines(ntu_samples_dir):
    """Frame 0 of a two-person sample, read straight from its lines."""
    path = ntu_samples_dir / "S001C003P008R002A058.skeleton"
    lines = text_lines(path)
    skeleton = read_skeleton(path)
    assert lines[1] == "2"  # two bodies in frame 0
    first, second = lines[2].split(), lines[29].split()
    assert skeleton.body_id[:2].tolist() == [int(first[0]), int(second[0])]
    assert skeleton.body_id[0] != skeleton.body_id[1]
    np.testing.assert_array_equal(skeleton.body_fields[1], floats(lines[29])[1:])
    np.testing.assert_array_equal(skeleton.joints[0, 0], floats(lines[4]))
    np.testing.assert_array_equal(skeleton.joints[1, 24], floats(lines[55]))
    assert skeleton.joints[1, 24, -1] == float(lines[55].split()[-1])  # trackingState
    np.testing.assert_array_equal(skeleton.joints[-1, -1], floats(lines[-1]))
    assert skeleton.frame[:4].tolist() == [0, 0, 1, 1]


def test_exponent_values(ntu_samples_dir):
    """Values written with an exponent (e.g. -7.257856E-05) take the slow path, exactly."""
    path = ntu_samples_dir / "S004C002P003R001A017.skeleton"
    lines = text_lines(path)
    skeleton = read_skeleton(path)
    with_exponent = [i for i, line in enumerate(lines) if "E" in line]
    assert with_exponent
    for i in with_exponent:  # one body per frame: frame f spans lines 1 + 28 f ... 28 f + 28
        frame, offset = divmod(i - 1, 2 + 1 + NUM_JOINTS)
        np.testing.assert_array_equal(skeleton.joints[frame, offset - 3], floats(lines[i]))


# --------------------------------------------------------------------------------------------
# Synthetic files

def skeleton_text(frames, *, joint_values=None, joints=NUM_JOINTS, newline="\r\n") -> str:
    """A .skeleton file: frames is a list of lists of bodyIDs; joint lines are generated."""
    out = [str(len(frames))]
    for f, bodies in enumerate(frames):
        out.append(str(len(bodies)))
        for b, body_id in enumerate(bodies):
            out.append(f"{body_id} 0 1 1 1 1 0 -0.1159187 0.1413209 2")
            out.append(str(joints))
            for j in range(joints):
                values = joint_values or [f"{0.01 * j:.7g}", f"{0.1 * f:.7g}", f"{3 + b:.7g}",
                                          "276.0976", "190.0662", "1032.328", "514.0889",
                                          "-0.1705678", "0.04232755", "0.9718983", "-0.1566168", "2"]
                out.append(" ".join(values))
    return newline.join(out) + newline


def write(tmp_path, text: str, name="S001C001P001R001A001"):
    path = tmp_path / f"{name}.skeleton"
    path.write_text(text, newline="")
    return path


def test_number_edge_cases_match_float(tmp_path):
    tokens = ["-0", "+1.5", "1.", ".5", "-.25", "007", "123456789012345", "1234567890123456",
              "-7.257856E-05", "1e3", "0.1", "-2"]
    path = write(tmp_path, skeleton_text([[5]], joint_values=tokens))
    joints = read_skeleton(path).joints
    expected = np.array([float(t) for t in tokens], dtype=np.float32)
    np.testing.assert_array_equal(joints[0, 0], expected)
    assert np.signbit(joints[0, 0, 0])  # "-0" is -0.0, as float() reads it


def test_blank_lines_and_line_ends(tmp_path):
    text = skeleton_text([[1], [1, 2], []], newline="\n").replace("\n", "\n\n", 3)
    skeleton = read_skeleton(write(tmp_path, text))
    assert skeleton.num_frames == 3
    assert skeleton.bodies_per_frame().tolist() == [1, 2, 0]
    assert skeleton.body_id.tolist() == [1, 1, 2]
    np.testing.assert_allclose(skeleton.xyz[2, :, 2], 4.0)  # second body of frame 1: z = 3 + 1


def test_large_body_ids_are_exact(tmp_path):
    ids = [72057594037931648, 72057594037931649, 2 ** 64 - 1]
    skeleton = read_skeleton(write(tmp_path, skeleton_text([ids])))
    assert skeleton.body_id.tolist() == ids


def test_empty_recording(tmp_path):
    skeleton = read_skeleton(write(tmp_path, "0\r\n"))
    assert skeleton.num_frames == 0 and skeleton.joints.shape == (0, NUM_JOINTS, len(JOINT_FIELDS))


# --------------------------------------------------------------------------------------------
# Malformed files: the error names the file and the line

def good_lines():
    return skeleton_text([[7], [7, 8], [7]]).split("\r\n")[:-1]  # 1 + 28 + 55 + 28 = 112 lines


def bad_file(tmp_path, lines):
    return write(tmp_path, "\r\n".join(lines) + "\r\n", name="S001C001P001R001A002")


def expect_error(path, line: int, words: str):
    with pytest.raises(NTUFormatError) as caught:
        read_skeleton(path)
    error = caught.value
    assert isinstance(error, ValueError)
    assert (error.path, error.line) == (str(path), line), str(error)
    assert str(path) in str(error) and f"line {line}" in str(error)
    assert words in error.problem, error.problem


def test_wellformed_reference_file(tmp_path):
    assert read_skeleton(bad_file(tmp_path, good_lines())).bodies_per_frame().tolist() == [1, 2, 1]


def test_non_numeric_token(tmp_path):
    lines = good_lines()
    lines[40] = lines[40].replace("1032.328", "10x2.328")
    expect_error(bad_file(tmp_path, lines), 41, "not a number: '10x2.328'")


@pytest.mark.parametrize("token", ["1.2.3", "--1", "1-2", "+", ".", "-.", "0x1F", "1,5", "\u00e9"])
def test_malformed_numbers(tmp_path, token):
    lines = good_lines()
    lines[70] = lines[70].replace("190.0662", token)
    path = bad_file(tmp_path, lines)
    path.write_bytes(path.read_bytes().replace(token.encode(), token.encode("latin-1")))
    expect_error(path, 71, f"not a number: {token!r}")


def test_not_finite(tmp_path):
    lines = good_lines()
    lines[5] = lines[5].replace("276.0976", "nan")
    expect_error(bad_file(tmp_path, lines), 6, "not a finite number: 'nan'")


def test_joint_line_with_missing_value(tmp_path):
    lines = good_lines()
    lines[60] = lines[60].rsplit(" ", 1)[0]
    expect_error(bad_file(tmp_path, lines), 61, "expected a joint line with 12 values, found 11")


def test_body_line_with_extra_value(tmp_path):
    lines = good_lines()
    lines[30] += " 7"  # the second frame's first body line
    expect_error(bad_file(tmp_path, lines), 31, "expected a body line (bodyID and fields) with 10")


def test_wrong_joint_count(tmp_path):
    lines = good_lines()
    lines[31] = "24"  # joint count of frame 1's first body, 25 joint lines still follow
    expect_error(bad_file(tmp_path, lines), 32, "expected 25 joints, found 24")
    del lines[32]  # now 24 joint lines really follow: still reported at the count
    expect_error(bad_file(tmp_path, lines), 32, "expected 25 joints, found 24")


def test_wrong_body_count(tmp_path):
    lines = good_lines()
    lines[29] = "1"  # frame 1 says one body but holds two: the second body line is misplaced
    expect_error(bad_file(tmp_path, lines), 58, "expected a body count with 1 value, found 10")


def test_fractional_count(tmp_path):
    lines = good_lines()
    lines[29] = "2.0"
    expect_error(bad_file(tmp_path, lines), 30, "expected a body count (a whole number), found '2.0'")


def test_truncated_between_lines(tmp_path):
    expect_error(bad_file(tmp_path, good_lines()[:100]), 101, "file ends inside frame 3 of 3")


def test_truncated_inside_a_line(tmp_path):
    path = bad_file(tmp_path, good_lines())
    data = path.read_bytes()
    path.write_bytes(data[:data.index(b"\r\n", 3000) - 20])
    line = data[:3000].count(b"\n") + 1
    expect_error(path, line, "expected a joint line with 12 values, found")


def test_more_frames_than_declared(tmp_path):
    lines = good_lines()
    lines[0] = "2"
    expect_error(bad_file(tmp_path, lines), 85, "unexpected line after the last of 2 frames")


def test_fewer_frames_than_declared(tmp_path):
    lines = good_lines()
    lines[0] = "4"
    expect_error(bad_file(tmp_path, lines), 113, "file ends after frame 3 of 4")


def test_empty_file_and_bad_header(tmp_path):
    expect_error(bad_file(tmp_path, []), 1, "empty file")
    expect_error(bad_file(tmp_path, ["3 4"] + good_lines()[1:]), 1, "expected the frame count")


def test_bad_body_id(tmp_path):
    lines = good_lines()
    lines[2] = "-7" + lines[2][1:]
    expect_error(bad_file(tmp_path, lines), 3, "bodyID '-7' is not a 64-bit unsigned integer")


def test_first_problem_in_the_file_is_reported(tmp_path):
    lines = good_lines()
    lines[10] = lines[10].replace("0.9718983", "abc")
    lines[60] = lines[60].rsplit(" ", 1)[0]
    expect_error(bad_file(tmp_path, lines), 11, "not a number: 'abc'")


def test_error_survives_pickling(tmp_path):
    error = NTUFormatError(tmp_path / "x.skeleton", 7, "expected 25 joints, found 24")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.path, copy.line, copy.problem, str(copy)) == (error.path, 7, error.problem, str(error))


# --------------------------------------------------------------------------------------------
# Many files

def test_parallel_equals_serial(ntu_samples_dir, tmp_path):
    paths = sorted(ntu_samples_dir.glob("*.skeleton")) * 2
    serial = list(read_skeletons(paths, workers=1))
    parallel = list(read_skeletons(paths, workers=2))
    assert [s.name for s in parallel] == [p.stem for p in paths]
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a.joints, b.joints)
        np.testing.assert_array_equal(a.body_id, b.body_id)


def test_parallel_reports_the_bad_file(ntu_samples_dir, tmp_path):
    good = shutil.copy(ntu_samples_dir / "S001C001P001R001A011.skeleton", tmp_path)
    bad = bad_file(tmp_path, good_lines()[:50])
    with pytest.raises(NTUFormatError) as caught:
        list(read_skeletons([good, bad], workers=2))
    assert caught.value.path == str(bad) and caught.value.line == 51
