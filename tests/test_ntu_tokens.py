"""The compiled token scanner (neuron/data/_ntu_tokens.c) against the numpy scanner and float().

Both scanners of neuron.data.ntu_raw must find the same tokens, lines and counts, and every
number either converts must be exactly float()'s; read_skeleton must give the same arrays or
the same error with either. The comparisons skip where the extension is not built.
"""

import math
import re
import struct
import subprocess
import sys
import threading

import numpy as np
import pytest

from neuron.data import ntu_raw
from neuron.data.ntu_raw import NTUFormatError, read_skeleton

compiled_scanner = pytest.mark.skipif(
    ntu_raw._ntu_tokens is None,
    reason="neuron.data._ntu_tokens is not built (`pip install -e .` compiles it where a C "
           "compiler and the Python headers exist); ntu_raw uses its numpy scanner")

SCANNERS = {"numpy": ntu_raw._scan_tokens_numpy, "compiled": ntu_raw._scan_tokens_compiled}


def padded(data: bytes) -> bytearray:
    """The buffer read_skeleton scans: data between blanks, as _Text.read lays it out."""
    return bytearray(b" " * ntu_raw._Text.PAD + data + b" ")


def bits(value: float) -> bytes:
    return struct.pack("<d", value)


def finite_float(token: bytes):
    """float(token) if that is a finite number, else None."""
    try:
        value = float(token)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def check_converted_values(tokens, buffer):
    """Every converted token holds float()'s value, bit for bit (-0.0 included)."""
    for i in np.flatnonzero(tokens.converted).tolist():
        token = bytes(buffer[tokens.starts[i]:tokens.ends[i]])
        assert bits(tokens.values[i]) == bits(float(token)), token


def scan_both(buffer):
    """(numpy, compiled) tokens of one buffer, checked to agree wherever both are defined."""
    numpy_tokens, compiled_tokens = (scan(buffer) for scan in SCANNERS.values())
    for field in ("starts", "ends", "whole", "line_tokens"):
        a, b = getattr(numpy_tokens, field), getattr(compiled_tokens, field)
        assert a.dtype == b.dtype, field
        np.testing.assert_array_equal(a, b, err_msg=field)
    assert (compiled_tokens.converted >= numpy_tokens.converted).all()  # compiled: a superset
    for tokens in (numpy_tokens, compiled_tokens):
        check_converted_values(tokens, buffer)
    return numpy_tokens, compiled_tokens


# --------------------------------------------------------------------------------------------
# Dispatch

def test_dispatch_uses_the_compiled_scanner_when_built():
    expected = SCANNERS["numpy" if ntu_raw._ntu_tokens is None else "compiled"]
    assert ntu_raw._scan_tokens is expected


def test_falls_back_to_numpy_without_the_extension(tmp_path):
    """With the extension unimportable (as after an install without a compiler) the reader
    still works, on the numpy scanner. A fresh interpreter: reloading here would replace the
    module's classes under the other tests."""
    path = tmp_path / "S001C001P001R001A001.skeleton"
    path.write_bytes(VALID_FILES["exponents and -0"].encode())
    code = ("import sys; sys.modules['neuron.data._ntu_tokens'] = None\n"
            "from neuron.data import ntu_raw\n"
            "assert ntu_raw._ntu_tokens is None\n"
            "assert ntu_raw._scan_tokens is ntu_raw._scan_tokens_numpy\n"
            "joints = ntu_raw.read_skeleton(sys.argv[1]).joints\n"
            "assert joints.shape == (2, 25, 12) and joints[1, 24, 3] == 200.0\n")
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)


# --------------------------------------------------------------------------------------------
# Real samples

@compiled_scanner
def test_real_samples_scan_identically(ntu_samples_dir):
    for path in sorted(ntu_samples_dir.glob("*.skeleton")):
        with open(path, "rb") as f:
            buffer = ntu_raw._Text.read(f).bytes
        numpy_tokens, compiled_tokens = scan_both(buffer)
        assert compiled_tokens.converted.all(), path  # every value of a real file, exponents too
        assert not numpy_tokens.converted.all(), path  # the numpy path leaves out body ids


@compiled_scanner
def test_real_samples_read_identically(ntu_samples_dir, monkeypatch):
    for path in sorted(ntu_samples_dir.glob("*.skeleton")):
        results = []
        for scan in SCANNERS.values():
            monkeypatch.setattr(ntu_raw, "_scan_tokens", scan)
            results.append(read_skeleton(path))
        numpy_result, compiled_result = results
        assert numpy_result.num_frames == compiled_result.num_frames
        for field in ("frame", "body_id", "body_fields", "joints"):
            a, b = getattr(numpy_result, field), getattr(compiled_result, field)
            assert a.dtype == b.dtype
            assert a.tobytes() == b.tobytes(), (path.name, field)  # bit for bit, -0.0 included


# --------------------------------------------------------------------------------------------
# Numbers

DECIMALS = [  # all finite for float(): the compiled scanner converts each
    "0", "-0", "+0", "-0.0", "007", "1.", ".5", "-.5", "+.5e1", "1.e2", "0.1", "-0.1159187",
    "0.30000000000000004", "123456789012345", "1234567890123456", "9007199254740993",
    "1e5", "1E+05", "-7.257856E-05", "1e22", "1e23", "-1e-22", "1e-23", "1e308",
    "1.7976931348623157e308", "2.2250738585072011e-308", "4.9e-324", "1e-400", "-1e-400",
    "0e999999999999", "1e-99999999999999999999", "0.000000000000000000000000001234",
    "72057594037931648", "18446744073709551615", "1" * 40 + ".5", "9" * 63,
    "6.1673263756548037", "7799.94468059973638",  # over 15 digits: rounding the digits first
]                                                  # and dividing after would round twice
LEFT_TO_FLOAT = ["1_000", "1" * 64, "0." + "1" * 70]  # finite numbers outside the compiled grammar
NOT_FINITE_NUMBERS = [  # ntu_raw reports these (float() fails or gives inf or nan)
    "1e400", "-1e400", "inf", "-Infinity", "nan", "NaN", "1e", "1e+", "e5", "1e5.5", "1.2.3",
    "--1", "+", "-", ".", "-.", ".e1", "0x1F", "1,5", "10x2.328", "\u00e9", "\u0661", "1\x7f",
]


@compiled_scanner
@pytest.mark.parametrize("separator", [b" ", b"\t", b"\r\n", b" \r\n\r\n "])
def test_number_edge_cases(separator):
    words = [t.encode("utf-8") for t in DECIMALS + LEFT_TO_FLOAT + NOT_FINITE_NUMBERS]
    numpy_tokens, compiled_tokens = scan_both(padded(separator.join(words)))
    assert len(compiled_tokens.starts) == len(words)
    converted = [finite_float(w) is not None for w in words]
    assert converted == [True] * len(DECIMALS + LEFT_TO_FLOAT) + [False] * len(NOT_FINITE_NUMBERS)
    converted[len(DECIMALS):len(DECIMALS + LEFT_TO_FLOAT)] = [False] * len(LEFT_TO_FLOAT)
    assert compiled_tokens.converted.tolist() == converted
    negative_zeros = [DECIMALS.index(t) for t in ("-0", "-0.0", "-1e-400")]
    assert np.signbit(compiled_tokens.values[negative_zeros]).all()


@compiled_scanner
def test_counts_are_whole_tokens_of_at_most_15_digits():
    counts = ["0", "007", "123456789012345", "25"]
    others = ["1234567890123456", "+1", "-0", "1.", "1e0", "x"]
    numpy_tokens, compiled_tokens = scan_both(padded(" ".join(counts + others).encode()))
    assert compiled_tokens.whole.tolist() == [True] * len(counts) + [False] * len(others)


# --------------------------------------------------------------------------------------------
# Tokens and lines

TOKEN = re.compile(rb"[^\x00- ]+")  # a run of bytes above 32


@compiled_scanner
@pytest.mark.parametrize("data", [
    b"",
    b" \t\r\n \n",
    b"3\r\n1\r\n",
    b"3\n\n\n1 2\n",
    b"\n3 4 \t \n  5",  # leading blank line, trailing blanks, no final newline
    b"1\r\n2\r\n\r\n3",
    b"a\x00b\x0bc\x0cd\x1fe\x7ff",  # control bytes separate tokens, DEL does not
    b"\r\r\n\r",
])
def test_tokens_and_lines(data):
    buffer = padded(data)
    numpy_tokens, compiled_tokens = scan_both(buffer)
    starts, ends = compiled_tokens.starts.tolist(), compiled_tokens.ends.tolist()
    assert [buffer[s:e] for s, e in zip(starts, ends)] == TOKEN.findall(data)
    line_tokens = [len(TOKEN.findall(line)) for line in data.split(b"\n")]
    assert compiled_tokens.line_tokens.tolist() == line_tokens


@compiled_scanner
@pytest.mark.parametrize("data", [b"12", b"-", b"1e", b"1e+", b"4.5", b"x", b"1 2", b"\n7"])
def test_buffer_ending_inside_a_token(data):
    """Unpadded buffers of every kind: the scanner stops at the buffer's end."""
    for buffer in (data, bytearray(data), memoryview(data)):
        arrays = ntu_raw._ntu_tokens.scan(buffer)
        starts, ends, values, converted, whole, line_tokens = (
            np.frombuffer(a, dtype) for a, dtype in zip(arrays, ntu_raw._TOKEN_DTYPES))
        words = data.split()
        numbers = [finite_float(w) for w in words]
        assert [data[s:e] for s, e in zip(starts, ends)] == words
        assert converted.tolist() == [x is not None for x in numbers]
        assert values[converted].tolist() == [x for x in numbers if x is not None]
        assert line_tokens.tolist() == [len(line.split()) for line in data.split(b"\n")]


@compiled_scanner
def test_rejects_what_is_not_a_contiguous_byte_buffer():
    with pytest.raises(TypeError):
        ntu_raw._ntu_tokens.scan("1 2")
    with pytest.raises(BufferError):
        ntu_raw._ntu_tokens.scan(memoryview(b"1 2 3 4")[::2])


@compiled_scanner
def test_threads_scan_concurrently(ntu_samples_dir):
    """Threads may scan at once (the GIL is released while scanning): all get the same tokens."""
    with open(sorted(ntu_samples_dir.glob("*.skeleton"))[0], "rb") as f:
        buffer = ntu_raw._Text.read(f).bytes
    expected = ntu_raw._scan_tokens_compiled(buffer)
    results = [None] * 4

    def work(i):
        results[i] = ntu_raw._scan_tokens_compiled(buffer)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(results))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        for a, b in zip(result, expected):
            assert a.tobytes() == b.tobytes()


# --------------------------------------------------------------------------------------------
# Whole files: same arrays or the same error with either scanner

def skeleton_file(joint_line: str = "0.1 -0.2 3.5 276.0976 190.0662 1032.328 514.0889 "
                                    "-0.1705678 0.04232755 0.9718983 -7.257856E-05 2",
                  frames: int = 2, newline: str = "\r\n") -> str:
    lines = [str(frames)]
    for _ in range(frames):
        lines += ["1", "72057594037931648 0 1 1 1 1 0 -0.1159187 0.1413209 2", "25"]
        lines += [joint_line] * 25
    return newline.join(lines) + newline


VALID_JOINT_LINE = skeleton_file().split("\r\n")[4]
VALID_FILES = {
    "valid": skeleton_file(),
    "valid, LF and tabs": skeleton_file(newline="\n").replace(" ", "\t"),
    "valid, blank lines and trailing blanks": skeleton_file(newline=" \n\n"),
    "valid, no final newline": skeleton_file().rstrip(),
    "exponents and -0": skeleton_file("1e-3 -0 -0.0 2E+2 .5 5. 1e-400 -1e-400 0 0 0 0"),
    "long tokens": skeleton_file(("0." + "3" * 80 + " ") * 11 + "0." + "5" * 62),
    "underscore (float() accepts it)":
        skeleton_file(VALID_JOINT_LINE.replace("276.0976", "27_6.0976")),
}
BAD_FILES = {
    "non-numeric token": skeleton_file(VALID_JOINT_LINE.replace("1032.328", "10x2.328")),
    "nan": skeleton_file(VALID_JOINT_LINE.replace("0.1", "nan", 1)),
    "overflow": skeleton_file(VALID_JOINT_LINE.rsplit(" ", 1)[0] + " 1e400"),
    "missing value": skeleton_file(VALID_JOINT_LINE.rsplit(" ", 1)[0]),
    "fractional frame count": "2.0" + skeleton_file()[1:],
    "16-digit frame count": "0000000000000002" + skeleton_file()[1:],
    "negative body count": skeleton_file().replace("\r\n1\r\n", "\r\n-1\r\n", 1),
    "joint count with exponent": skeleton_file().replace("\r\n25\r\n", "\r\n2.5e1\r\n", 1),
    "truncated": skeleton_file()[:-200],
    "empty": "",
}


@compiled_scanner
@pytest.mark.parametrize("case", list(VALID_FILES) + list(BAD_FILES))
def test_files_read_identically(tmp_path, monkeypatch, case):
    path = tmp_path / "S001C001P001R001A001.skeleton"
    path.write_bytes({**VALID_FILES, **BAD_FILES}[case].encode())
    outcomes = []
    for scan in SCANNERS.values():
        monkeypatch.setattr(ntu_raw, "_scan_tokens", scan)
        try:
            skeleton = read_skeleton(path)
        except NTUFormatError as error:
            outcomes.append(("error", error.path, error.line, error.problem))
        else:
            arrays = (skeleton.frame, skeleton.body_id, skeleton.body_fields, skeleton.joints)
            outcomes.append(("arrays", skeleton.num_frames, *(a.tobytes() for a in arrays)))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == ("arrays" if case in VALID_FILES else "error")
