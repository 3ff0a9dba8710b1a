"""Fast reader for the raw NTU RGB+D 60/120 `.skeleton` files.

A file is text, one group of values per line (the released files end lines with CR LF):

    F                                         frame count
    F times:
      B                                       body count of this frame
      B times:
        bodyID clippedEdges handLeftConfidence handLeftState handRightConfidence
          handRightState isRestricted leanX leanY trackingState
        J                                     joint count (25)
        J lines: x y z depthX depthY colorX colorY orientationW orientationX
                 orientationY orientationZ trackingState

The reader is vectorised. A scanner finds all tokens of the file, converts its numbers and
counts the tokens on each line: the compiled one (`_ntu_tokens.c`, built by `pip install` where
a C compiler exists) or else the portable numpy one, which converts the plain decimals
(`-0.1159187`, `2`) a few thousand at a time. numpy then checks the line structure against the
counts at once and gathers the values into arrays. Python's float() judges the few tokens a
scanner leaves unconverted: those that are not finite decimals and, with numpy, also body ids
longer than 15 digits and exponents such as `-7.257856E-05`. The values are exactly those
`float()` gives, and the errors the same, with either scanner. `read_skeletons` parses files
in parallel.
"""

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from neuron.data.parallel import parallel_map
from neuron.errors import UserError

try:  # built from _ntu_tokens.c by `pip install -e .`; absent where no C compiler was found
    from neuron.data import _ntu_tokens
except ImportError:
    _ntu_tokens = None

NUM_JOINTS = 25
BODY_FIELDS = ("clippedEdges", "handLeftConfidence", "handLeftState", "handRightConfidence",
               "handRightState", "isRestricted", "leanX", "leanY", "trackingState")
JOINT_FIELDS = ("x", "y", "z", "depthX", "depthY", "colorX", "colorY", "orientationW",
                "orientationX", "orientationY", "orientationZ", "trackingState")

# Kinds of line, in the order they appear in a file, with their value counts.
_FRAME_COUNT, _BODY_COUNT, _BODY, _JOINT_COUNT, _JOINT = range(5)
_LINE_VALUES = np.array([1, 1, 1 + len(BODY_FIELDS), 1, len(JOINT_FIELDS)])
_LINE_NAMES = ("the frame count", "a body count", "a body line (bodyID and fields)",
               "a joint count", "a joint line")
_BODY_LINES = 2 + NUM_JOINTS  # body line, joint count, joints


class NTUFormatError(UserError):
    """A `.skeleton` file that does not follow the format; names the file and the line."""

    def __init__(self, path, line: int, problem: str):
        self.path, self.line, self.problem = str(path), line, problem
        super().__init__(f"{path}, line {line}: {problem}")

    def __reduce__(self):  # keep (path, line, problem) across process boundaries
        return type(self), (self.path, self.line, self.problem)


@dataclass(frozen=True)
class RawSkeleton:
    """Every body record of one `.skeleton` file, in file order (B records in all)."""

    name: str  # file stem, e.g. S001C001P001R001A011
    num_frames: int  # frames in the file, including frames without any body
    frame: np.ndarray  # (B,) int64: 0-based frame of each record, non-decreasing
    body_id: np.ndarray  # (B,) uint64: Kinect tracking id; one id per person across frames
    body_fields: np.ndarray  # (B, 9) float32: BODY_FIELDS
    joints: np.ndarray  # (B, 25, 12) float32: JOINT_FIELDS of each joint

    @property
    def xyz(self) -> np.ndarray:
        """(B, 25, 3) camera-space joint positions in metres."""
        return self.joints[..., :3]

    def bodies_per_frame(self) -> np.ndarray:
        """(num_frames,) number of bodies recorded in each frame."""
        return np.bincount(self.frame, minlength=self.num_frames)


def read_skeleton(path) -> RawSkeleton:
    """Parse one `.skeleton` file; raises NTUFormatError naming the file and line on bad input."""
    path = Path(path)
    with open(path, "rb") as f:
        return _parse(_Text.read(f), path)


def read_skeletons(paths, *, workers: int | None = None):
    """Parse many files in `workers` processes (default: all cores), yielding in input order."""
    return parallel_map(read_skeleton, paths, workers=workers)


# --------------------------------------------------------------------------------------------
# Parsing: tokens and numbers -> line structure -> arrays

def _parse(text: "_Text", path: Path) -> RawSkeleton:
    lines = _Lines(text)
    values, whole = text.values, text.whole
    bad_token = _convert_other_tokens(text, values, text.converted)
    try:
        frame, body_lines = _layout(text, lines, values, whole, path)
    except NTUFormatError as error:  # report whichever problem comes first in the file
        if bad_token is None or lines.of_token(bad_token) > error.line:
            raise
    if bad_token is not None:
        raise NTUFormatError(path, lines.of_token(bad_token), _number_problem(text.token(bad_token)))

    first = lines.first_token[body_lines]  # (B,) token holding each bodyID
    # The layout is checked, so a body's fields and its joints (after the joint count) are
    # runs of consecutive tokens: copied row by row, not gathered value by value.
    joints = _runs(values, first + 2 + len(BODY_FIELDS), NUM_JOINTS * len(JOINT_FIELDS))
    return RawSkeleton(
        name=path.stem,
        num_frames=int(values[0]),
        frame=frame,
        body_id=_body_ids(text, first, lines, path),
        body_fields=_runs(values, first + 1, len(BODY_FIELDS)),
        joints=joints.reshape(len(first), NUM_JOINTS, len(JOINT_FIELDS)))


def _runs(values: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """(len(starts), length) float32: values[s:s + length] for each s in starts."""
    if len(starts) == 0:  # values may hold fewer than `length` numbers then
        return np.empty((0, length), np.float32)
    return sliding_window_view(values, length)[starts].astype(np.float32)


class _Text:
    """The file's bytes, padded with blanks, and its tokens as _scan_tokens finds them."""

    PAD = 16  # leading blanks: the 16-byte window ending at any token lies inside the buffer

    def __init__(self, padded: bytearray):
        self.bytes = padded  # PAD blanks, the file, one blank
        (self.starts, self.ends, self.values, self.converted, self.whole,
         self.line_tokens) = _scan_tokens(padded)

    @classmethod
    def read(cls, file) -> "_Text":
        """Read a binary file straight into the padded buffer (no copy of its contents)."""
        size = os.fstat(file.fileno()).st_size
        padded = bytearray(cls.PAD + size + 1)
        padded[:cls.PAD], padded[-1:] = b" " * cls.PAD, b" "
        view = memoryview(padded)[cls.PAD:cls.PAD + size]
        while view:  # readinto may return fewer bytes than asked
            got = file.readinto(view)
            if not got:
                raise OSError(f"{file.name} shrank while being read")
            view = view[got:]
        return cls(padded)

    def token(self, i: int) -> str:
        return self.bytes[self.starts[i]:self.ends[i]].decode("latin-1")


class _Lines:
    """The non-blank lines: first token, number of tokens and 1-based line number of each."""

    def __init__(self, text: _Text):
        per_line = text.line_tokens  # (L,) tokens on each line, blank lines included
        nonblank = np.flatnonzero(per_line)
        self.first_token = (np.cumsum(per_line) - per_line)[nonblank]
        self.size = per_line[nonblank]
        self.number = nonblank + 1
        ends_with_newline = text.bytes[-2:] == b"\n "
        self.count_in_file = len(per_line) - ends_with_newline

    def __len__(self) -> int:
        return len(self.number)

    def of_token(self, token: int) -> int:
        """1-based line number of a token."""
        return int(self.number[np.searchsorted(self.first_token, token, side="right") - 1])


# --------------------------------------------------------------------------------------------
# Scanning: the file's bytes -> tokens, their numbers, tokens per line

class _Tokens(NamedTuple):
    """What a scanner finds in the padded bytes of a file: K tokens (maximal runs of bytes
    above 32, so space, CR, LF, tab and other control bytes separate tokens) and L lines
    (separated by LF; L = number of LFs + 1)."""

    starts: np.ndarray  # (K,) int64: byte where each token starts
    ends: np.ndarray  # (K,) int64: byte after each token
    values: np.ndarray  # (K,) float64: the number float() gives, where converted
    converted: np.ndarray  # (K,) bool: tokens read as finite numbers; float() judges the others
    whole: np.ndarray  # (K,) bool: tokens of 1 to 15 digits only: valid counts, exact in float64
    line_tokens: np.ndarray  # (L,) int64: tokens on each line


def _scan_tokens_numpy(padded: bytearray) -> _Tokens:
    """The portable scanner: converts the plain decimals, at most 15 characters after the sign."""
    array = np.frombuffer(padded, np.uint8)
    blank = array <= 32
    edges = np.flatnonzero(blank[1:] != blank[:-1])  # the padding makes the first a start
    edges += 1
    starts, ends = edges[0::2], edges[1::2]
    newlines = np.flatnonzero(array == ord("\n"))
    line_tokens = np.diff(np.searchsorted(starts, newlines), prepend=0, append=len(starts))
    return _Tokens(starts, ends, *_plain_decimals(array, starts, ends), line_tokens)


_TOKEN_DTYPES = (np.int64, np.int64, np.float64, bool, bool, np.int64)


def _scan_tokens_compiled(padded: bytearray) -> _Tokens:
    """The compiled scanner (_ntu_tokens.c): converts every finite decimal, exponents included."""
    arrays = _ntu_tokens.scan(padded)  # bytearrays, wrapped without a copy
    return _Tokens(*(np.frombuffer(a, dtype) for a, dtype in zip(arrays, _TOKEN_DTYPES)))


# The one dispatch point: the compiled scanner where it was built, else numpy. Both give the
# same tokens, whole flags, lines and, once float() has judged the unconverted tokens, values.
_scan_tokens = _scan_tokens_compiled if _ntu_tokens is not None else _scan_tokens_numpy


# Plain decimals are read from the 16 bytes that end at each token, seen as two little-endian
# 8-byte words: byte 0 of the first word is the 16th character before the token's end.
_WINDOW = 16
_BLOCK = 4096  # tokens converted at a time: the temporaries stay small (in cache, off mmap)
_KEEP_LAST = np.zeros((_WINDOW + 1, _WINDOW), np.uint8)  # row n: mask of the last n bytes
for _n in range(1, _WINDOW + 1):
    _KEEP_LAST[_n, -_n:] = 0xFF
_KEEP_LAST = _KEEP_LAST.view("<u8")  # (17, 2)
_SIGN = np.ones(256)
_SIGN[ord("-")] = -1.0
_IS_SIGN = np.zeros(256, bool)
_IS_SIGN[[ord("-"), ord("+")]] = True
# With a dot at place r (r - 1 digits after it; r = 0: no dot) the digits' integer value S
# splits as whole * 10**r + fraction, and the number is (whole * 10**(r-1) + fraction) / 10**(r-1):
# one correctly rounded division of exact integers, the same double float() returns.
_SPLIT = np.concatenate([[1.0], 10.0 ** np.arange(1, _WINDOW + 1)])
_SCALE = np.concatenate([[1.0], 10.0 ** np.arange(0, _WINDOW)])
_MAX_PLAIN = 15  # characters after the sign: keeps S below 10**15, exact in float64


def _plain_decimals(array: np.ndarray, starts: np.ndarray, ends: np.ndarray):
    """Convert every token written as a plain decimal `[-+]digits[.digits]` (at most 15
    characters after the sign) at once, correctly rounded like float().

    array: the padded bytes (uint8); starts, ends: (K,) the tokens' byte ranges.
    Returns values (K,) float64, plain (K,) bool (the tokens converted), whole (K,) bool
    (tokens made of digits only: valid counts).
    """
    num_tokens = len(starts)
    values, plain, whole = np.empty(num_tokens), np.empty(num_tokens, bool), np.empty(num_tokens, bool)
    windows = np.ndarray((len(array) - _WINDOW + 1,), f"V{_WINDOW}", array, strides=(1,))
    for lo in range(0, num_tokens, _BLOCK):
        block = slice(lo, lo + _BLOCK)
        values[block], plain[block], whole[block] = _plain_block(
            array, windows, starts[block], ends[block])
    return values, plain, whole


def _plain_block(array, windows, starts, ends):
    """_plain_decimals for one block of k <= _BLOCK tokens."""
    first = array[starts]
    signed = np.take(_IS_SIGN, first)
    body = ends - starts - signed  # characters after the sign
    words = windows[ends - _WINDOW].view("<u8").reshape(-1, 2)  # (k, 2): the 16 bytes before the end
    words &= np.take(_KEEP_LAST, np.minimum(body, _WINDOW), axis=0)  # zero all but the body
    chars = words.view(np.uint8)  # (k, 16)
    digit = chars - np.uint8(ord("0"))
    is_digit = digit < 10
    is_dot = chars == ord(".")
    digits, dots = _byte_sums(is_digit, _COUNT), _byte_sums(is_dot, _COUNT)
    plain = (digits + dots == body) & (dots <= 1) & (digits > 0) & (body <= _MAX_PLAIN)

    eights = _eight_digits((digit * is_digit).view("<u8"))  # (k, 2), the dot read as no digit
    number = eights[:, 0] * 1e8 + eights[:, 1]
    dot_place = _byte_sums(is_dot, _PLACE)  # 16 - the dot's column (0: no dot)
    # Tokens with several dots (not plain: float() judges them) have meaningless places: clip.
    split, scale = np.take(_SPLIT, dot_place, mode="clip"), np.take(_SCALE, dot_place, mode="clip")
    whole_part = np.floor(number / split)  # exact: number < 10**15
    values = (whole_part * scale + (number - whole_part * split)) / scale
    values *= np.take(_SIGN, first)
    return values, plain, plain & (dots == 0) & ~signed


# Multiplying a word of bytes b_0..b_7 by sum_j m_j 256**j adds up b_i * m_(7-i) in its top
# byte (while partial sums stay below 256): a weighted sum of the bytes of a row, computed
# for the rows of a block at once with multipliers chosen per word.
def _multipliers(weights) -> np.ndarray:
    """(_BLOCK, 2) multipliers that weight column c of a 16-byte row by weights[c]."""
    per_word = [sum(int(weights[8 * word + 7 - j]) << (8 * j) for j in range(8)) for word in range(2)]
    return np.tile(np.array(per_word, dtype=np.uint64), (_BLOCK, 1))


_COUNT = _multipliers([1] * _WINDOW)
_PLACE = _multipliers(range(_WINDOW, 0, -1))  # column c -> 16 - c: characters from c to the end


def _byte_sums(mask16: np.ndarray, multipliers: np.ndarray) -> np.ndarray:
    """(k, 16) bool -> (k,) int64 weighted number of True per row."""
    words = mask16.view("<u8")
    top = (words * multipliers[:len(words)]) >> np.uint64(56)
    return (top[:, 0] + top[:, 1]).view(np.int64)


def _eight_digits(words: np.ndarray) -> np.ndarray:
    """uint64 words holding 8 digits (bytes 0..9, most significant first) -> their value.

    Adjacent digits are combined into pairs, pairs into fours and fours into the eight-digit
    value inside each word (the SWAR method of Lemire's `parse_eight_digits_unrolled`).
    """
    words = words * np.uint64(10) + (words >> np.uint64(8))
    low = np.uint64(0x000000FF000000FF)
    return ((words & low) * np.uint64(100 + (1000000 << 32))
            + ((words >> np.uint64(16)) & low) * np.uint64(1 + (10000 << 32))) >> np.uint64(32)


def _convert_other_tokens(text: _Text, values: np.ndarray, converted: np.ndarray):
    """float() the few tokens the scanner left unconverted, in place.

    Returns the index of the first token that is not a finite number, or None.
    """
    others = np.flatnonzero(~converted)
    for i, start, end in zip(others.tolist(), text.starts[others].tolist(), text.ends[others].tolist()):
        try:
            value = float(text.bytes[start:end])
        except ValueError:
            return i
        if not math.isfinite(value):
            return i
        values[i] = value
    return None


def _number_problem(token: str) -> str:
    try:
        float(token)
    except ValueError:
        return f"not a number: {token!r}"
    return f"not a finite number: {token!r}"


def _body_ids(text: _Text, tokens: np.ndarray, lines: _Lines, path) -> np.ndarray:
    ids = []
    for token in tokens.tolist():
        word = text.bytes[text.starts[token]:text.ends[token]]
        if not word.isdigit() or int(word) >= 2 ** 64:
            raise NTUFormatError(path, lines.of_token(token),
                                 f"bodyID {word.decode('latin-1')!r} is not a 64-bit unsigned integer")
        ids.append(int(word))
    return np.array(ids, dtype=np.uint64)


def _layout(text: _Text, lines: _Lines, values: np.ndarray, whole: np.ndarray, path):
    """Check the lines against the counts; return (frame, line index) of every body record.

    Body-count lines are the one-value lines that do not follow a body line (those hold joint
    counts). From their counts the kind of every line is laid out; the first line that does
    not fit the layout, or holds a wrong count, is reported. Up to the first problem the
    guessed body-count lines are exactly the layout's, so the report is exact.
    """
    n = len(lines)
    if n == 0:
        raise NTUFormatError(path, 1, "empty file: expected the frame count")
    size = lines.size
    count = values[lines.first_token]  # (n,) first value on each line
    is_whole = whole[lines.first_token]
    if size[0] != 1 or not is_whole[0]:
        found = _plural(size[0]) if size[0] != 1 else repr(text.token(lines.first_token[0]))
        raise NTUFormatError(path, int(lines.number[0]),
                             f"expected the frame count (a whole number), found {found}")
    num_frames = int(count[0])

    one_value = size == 1
    one_value[1:] &= size[:-1] != _LINE_VALUES[_BODY]
    frame_lines = np.flatnonzero(one_value[1:])[:num_frames] + 1
    laid_out = len(frame_lines)
    if not is_whole[frame_lines].all():  # lay out up to the first count that is not whole
        laid_out = int(np.argmin(is_whole[frame_lines]))
    # Counts are capped at what the file could hold: a wild count cannot exhaust memory.
    bodies = np.minimum(count[frame_lines[:laid_out]], n // _BODY_LINES + 1).astype(np.int64)
    frame_start = 1 + np.concatenate([[0], np.cumsum(1 + _BODY_LINES * bodies)])
    frame = np.repeat(np.arange(laid_out), bodies)  # (B,)
    first_body = np.cumsum(bodies) - bodies  # index of each frame's first body
    body_lines = frame_start[frame] + 1 + _BODY_LINES * (np.arange(len(frame)) - first_body[frame])

    kind = np.full(frame_start[-1], _JOINT)
    kind[0] = _FRAME_COUNT
    kind[frame_start[:-1]] = _BODY_COUNT
    kind[body_lines] = _BODY
    kind[body_lines + 1] = _JOINT_COUNT
    if laid_out < len(frame_lines) and frame_start[-1] < n:
        kind = np.append(kind, _BODY_COUNT)  # the count that stopped the layout

    problems = []  # (line index, message); the first in the file is reported
    checked = min(len(kind), n)
    misfit = np.flatnonzero(_LINE_VALUES[kind[:checked]] != size[:checked])
    if len(misfit):
        i = int(misfit[0])
        problems.append((i, f"expected {_LINE_NAMES[kind[i]]} with {_plural(_LINE_VALUES[kind[i]])}"
                            f", found {_plural(size[i])}"))
    counts = np.flatnonzero((kind[:checked] == _BODY_COUNT) | (kind[:checked] == _JOINT_COUNT))
    for i in counts[~is_whole[counts]][:1].tolist():
        found = text.token(lines.first_token[i])
        problems.append((i, f"expected {_LINE_NAMES[kind[i]]} (a whole number), found {found!r}"))
    joint_counts = body_lines[body_lines + 1 < checked] + 1
    for i in joint_counts[count[joint_counts] != NUM_JOINTS][:1].tolist():
        problems.append((i, f"expected {NUM_JOINTS} joints, found {count[i]:g}"))
    if problems:
        i, problem = min(problems)
        raise NTUFormatError(path, int(lines.number[i]), problem)
    if len(kind) > n:
        raise NTUFormatError(path, lines.count_in_file + 1,
                             f"file ends inside frame {laid_out} of {num_frames}")
    if laid_out < num_frames:
        raise NTUFormatError(path, lines.count_in_file + 1,
                             f"file ends after frame {laid_out} of {num_frames}")
    if len(kind) < n:
        raise NTUFormatError(path, int(lines.number[len(kind)]),
                             f"unexpected line after the last of {num_frames} frames")
    return frame, body_lines


def _plural(count: int) -> str:
    return f"{count} value" if count == 1 else f"{count} values"
