"""The embedded synthetic dataset: 68 compositional action classes of NTU 25-joint skeletons,
generated procedurally in a few seconds on one CPU core, always available offline.

Classes. Labels 0-59 are single movements, each a triple (body part, movement, manner), e.g.
("right arm", "raise", "slowly") named "raise right arm slowly":
  - part: right arm, left arm, both arms, right leg, left leg, torso, head;
  - movement: raise, swing (forward and back), circle, push (forward), sway (side to side),
    bend, kick, twist; each part performs the movements its family (arm, leg, torso, head)
    can do, written once as joint-angle patterns (`synthetic_motion.PATTERNS`), so "circle"
    means the same motion on an arm and on a leg, and the left side is the mirror image of
    the right;
  - manner: slowly (long period), quickly (short period), once (a single repetition between
    idle stretches), slightly (small amplitude). The manners' nominal period and amplitude
    ranges do not overlap, so the manner is readable from the skeleton (though a sample's
    tempo drifts around its nominal period, blurring the borders).
60 of the 37 x 4 possible triples are classes (table `_CLASSES`): every arm part x movement
in two manners, every leg movement in one, torso and head movements in one or two; each
manner names 15 classes.
Labels 60-67 are sequences (table `_SEQUENCES`, manner "then"): two single movements on
different parts, each done once, one after the other, e.g. "raise right arm then bend
torso". Each pair of movements is a class in both orders, so that two classes differ only in
the order of their phases (and their names only in the order of the same words).

Samples. A body is a rest skeleton built from bone lengths along the NTU25 bone tree and
animated by joint angles with forward kinematics (`synthetic_motion`), so bone lengths are
constant in every frame. Per sample vary: the performer (subjects 1..10, each with its own
height and limb proportions), the movement's period, amplitude and starting phase, the
performer's style (each pattern term's size varies, e.g. how high a waving arm is held or
how far the knee bends in a kick, and forward limb motions may turn outward, a diagonal
raise), a tempo that drifts within the sequence, a small lag between the two sides, the
resting posture of the limbs that do not act and their slow fidgeting, idle body sway and
weight shift, joint jitter (noise on every bone's angles, which keeps bone lengths exact,
plus a few millimetres on the root), the sequence length (40..100 frames, by manner) and the
camera angle (rotation about the vertical axis, tilt and roll); all ranges are in `MANNERS`
and `VARIATION`. Arrays are (N, 3, T=100, V=25, M=1), zero after each sample's `frames`, in
metres, y up, the person facing the camera at yaw 0 (NTU RGB+D's camera convention), and
stored as the real datasets are prepared: translated so that the middle of the spine in the
first frame is the origin (so a position in front of the camera, which that step removes, is
not drawn; weight shift still moves the body within a sample).

Why zero-shot is possible but not trivial. An unseen class is a new combination of parts,
movements and a manner that all occur in seen classes (`UNSEEN_SPLITS` guarantees it), and
its name shares those words with the seen classes' names; its skeletons share the moving
part's joints with seen classes of that part, the angle pattern with seen classes of that
movement on other parts, and the tempo with seen classes of that manner. Nothing about the
combination itself is ever observed, though: a movement looks different on another limb
(a leg circle is not an arm circle, a circle of the right arm not one of the left), manners
interact with movements (a slight push never straightens the elbow), and performers differ
in style, build, tempo, view and noise, so recognising an unseen class takes transfer, not
lookup.

Randomness. Every sample draws its parameters from its own stream,
SeedSequence(seed, spawn_key=(0, class, index)), and subject bodies from
SeedSequence(seed, spawn_key=(1, subject)); a sample is therefore bit-identical for the same
seed whatever `samples_per_class` is, and classes are independent of each other.

Benchmark `xsub`: odd subjects train, even subjects test, as a cross-subject benchmark of a
real dataset. Manifest columns: name (e.g. syn_c07_s03_0012: class 7, subject 3, sample 12
of its class), label, frames, subject, xsub.
"""

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from neuron.data import synthetic_motion as motion
from neuron.data.store import read_meta, write_dataset
from neuron.errors import ExistingOutputError

LAYOUT = "ntu25"
BENCHMARKS = ["xsub"]
NUM_SUBJECTS = 10
MAX_FRAMES = 100


@dataclass(frozen=True)
class Manner:
    period: tuple[float, float]  # frames per repetition (30 frames = 1 s at NTU's rate)
    amplitude: tuple[float, float]  # factor on the movement pattern's angles
    frames: tuple[int, int]  # sequence length, inclusive
    once: bool  # a single repetition between idle stretches (else continuous repetitions)


MANNERS = {
    "slowly": Manner(period=(50, 80), amplitude=(0.75, 1.15), frames=(70, 100), once=False),
    "quickly": Manner(period=(12, 22), amplitude=(0.7, 1.0), frames=(40, 90), once=False),
    "once": Manner(period=(26, 44), amplitude=(0.75, 1.15), frames=(72, 100), once=True),
    "slightly": Manner(period=(26, 44), amplitude=(0.3, 0.5), frames=(40, 100), once=False),
    # Sequences: each of the two movements once, the second after a short pause.
    "then": Manner(period=(22, 32), amplitude=(0.75, 1.15), frames=(84, 100), once=True),
}
SEQUENCE_GAP = (2.0, 8.0)  # frames of rest between the two movements of a sequence

# part -> (pattern family, the sides it moves: "right" = the pattern as written, "left" = its mirror)
PARTS = {
    "right arm": ("arm", ("right",)),
    "left arm": ("arm", ("left",)),
    "both arms": ("arm", ("right", "left")),
    "right leg": ("leg", ("right",)),
    "left leg": ("leg", ("left",)),
    "torso": ("torso", ("right",)),
    "head": ("head", ("right",)),
}

# movement -> how a class name says it: verb, then the part, then these words
_MOVEMENT_WORDS = {
    "raise": ("raise", ""), "swing": ("swing", " forward and back"), "circle": ("circle", ""),
    "push": ("push", " forward"), "sway": ("sway", " side to side"), "bend": ("bend", ""),
    "kick": ("kick", " forward"), "twist": ("twist", ""),
}

_CLASSES = (
    # (part, movement, manner), label order
    ("right arm", "raise", "slowly"), ("right arm", "raise", "quickly"),
    ("right arm", "swing", "quickly"), ("right arm", "swing", "slightly"),
    ("right arm", "circle", "slowly"), ("right arm", "circle", "once"),
    ("right arm", "push", "quickly"), ("right arm", "push", "once"),
    ("right arm", "sway", "slowly"), ("right arm", "sway", "slightly"),
    ("right arm", "bend", "once"), ("right arm", "bend", "slightly"),
    ("left arm", "raise", "slowly"), ("left arm", "raise", "once"),
    ("left arm", "swing", "slowly"), ("left arm", "swing", "quickly"),
    ("left arm", "circle", "slowly"), ("left arm", "circle", "slightly"),
    ("left arm", "push", "once"), ("left arm", "push", "slightly"),
    ("left arm", "sway", "quickly"), ("left arm", "sway", "slightly"),
    ("left arm", "bend", "quickly"), ("left arm", "bend", "once"),
    ("both arms", "raise", "once"), ("both arms", "raise", "slightly"),
    ("both arms", "swing", "quickly"), ("both arms", "swing", "once"),
    ("both arms", "circle", "slowly"), ("both arms", "circle", "quickly"),
    ("both arms", "push", "quickly"), ("both arms", "push", "slightly"),
    ("both arms", "sway", "slowly"), ("both arms", "sway", "once"),
    ("both arms", "bend", "slowly"), ("both arms", "bend", "slightly"),
    ("right leg", "raise", "slowly"), ("right leg", "swing", "quickly"),
    ("right leg", "circle", "once"), ("right leg", "kick", "quickly"),
    ("right leg", "bend", "slightly"), ("right leg", "sway", "once"),
    ("left leg", "raise", "slightly"), ("left leg", "swing", "slowly"),
    ("left leg", "circle", "quickly"), ("left leg", "kick", "once"),
    ("left leg", "bend", "slowly"), ("left leg", "sway", "slightly"),
    ("torso", "bend", "slowly"), ("torso", "bend", "quickly"),
    ("torso", "sway", "once"), ("torso", "sway", "slightly"),
    ("torso", "twist", "slowly"), ("torso", "twist", "quickly"),
    ("torso", "circle", "once"), ("torso", "circle", "slightly"),
    ("head", "bend", "once"), ("head", "bend", "quickly"),
    ("head", "sway", "slowly"), ("head", "circle", "slightly"),
)

# Sequences, labels 60..67: two single movements in a fixed order, "A then B". Each pair of
# movements comes in both orders, so only the order of the phases tells the two classes apart.
_SEQUENCES = (
    # (first (part, movement), second (part, movement)), label order
    (("right arm", "raise"), ("torso", "bend")), (("torso", "bend"), ("right arm", "raise")),
    (("left leg", "kick"), ("both arms", "push")), (("both arms", "push"), ("left leg", "kick")),
    (("left arm", "raise"), ("right leg", "raise")), (("right leg", "raise"), ("left arm", "raise")),
    (("torso", "bend"), ("both arms", "raise")), (("both arms", "raise"), ("torso", "bend")),
)

# Every class as its steps ((part, movement), ...) and manner, label order.
CLASS_ATTRIBUTES = ([{"steps": ((p, m),), "manner": k} for p, m, k in _CLASSES]
                    + [{"steps": steps, "manner": "then"} for steps in _SEQUENCES])


def _step_words(part: str, movement: str) -> str:
    verb, rest = _MOVEMENT_WORDS[movement]
    return f"{verb} {part}{rest}"


def _class_name(steps, manner: str) -> str:
    if manner == "then":
        return " then ".join(_step_words(*step) for step in steps)
    return f"{_step_words(*steps[0])} {manner}"


CLASS_NAMES = [_class_name(a["steps"], a["manner"]) for a in CLASS_ATTRIBUTES]
# Each sequence's order twin: the label of the same two movements in the other order.
_STEPS = [a["steps"] for a in CLASS_ATTRIBUTES]
ORDER_TWINS = {c: _STEPS.index(a["steps"][::-1]) for c, a in enumerate(CLASS_ATTRIBUTES) if a["manner"] == "then"}

# Unseen classes (0-based labels), fixed here, keeping only choices in which each unseen
# class's parts, movements and manner all occur in seen classes of the split.
# 63_5: one unseen class on each of five parts. 56_12: eight single movements stratified by
# part (one per part, two for the head), all four manners, and two sequence pairs in both
# orders (64/65, 66/67), whose seen counterparts 60-63 teach what "then" looks like: among
# the unseen classes, 64 and 65 (like 66 and 67) differ only in the order of their phases,
# and 66/67 differ from the seen 61/60 only in which arms rise. r1..r3: uniform draws from the
# single movements, pairwise disjoint.
# Some unseen classes also have no seen class with the same part and movement (e.g. 39 "kick
# right leg forward quickly" in 56_12: kicks are seen only on the left leg), so transfer across
# parts is needed, not only across manners.
UNSEEN_SPLITS = {
    "63_5": [10, 17, 30, 43, 51],
    "56_12": [3, 15, 25, 39, 46, 53, 56, 58, 64, 65, 66, 67],
    "r1": [11, 29, 35, 49, 59],
    "r2": [0, 30, 34, 47, 50],
    "r3": [21, 33, 45, 53, 58],
}

# Per-sample variation; the generator's parameters, stored in the prepared dataset's meta.
VARIATION = {
    "body_height": (0.85, 1.15),  # per subject, overall length factor
    "bone_group_factor": (0.94, 1.06),  # per subject and bone group, on top of the height
    "camera_yaw_deg": (-45.0, 45.0),
    "camera_tilt_deg": (-10.0, 10.0),
    "camera_roll_deg": (-3.0, 3.0),
    "rest_arm_out_deg": (4.0, 12.0),  # posture of limbs that do not act
    "rest_arm_forward_deg": (-5.0, 8.0),
    "rest_elbow_deg": (5.0, 20.0),
    "rest_thigh_out_deg": (1.0, 5.0),
    "rest_head_tilt_deg": (-8.0, 8.0),
    "side_lag_cycles": (-0.04, 0.04),  # both-arm movements: left side's phase lag
    "style_term_scale": (0.7, 1.3),  # per movement-pattern term: a performer's style
    "style_plane_deg": (-15.0, 40.0),  # forward limb motions turned outward by this angle
    "tempo_wobble": (0.0, 0.3),  # the movement's speed varies by up to this fraction ...
    "tempo_wobble_period": (50.0, 120.0),  # ... over this many frames
    "fidget_deg": (0.0, 6.0),  # slow aimless motion of arms and legs (up to this amplitude)
    "fidget_head_deg": (0.0, 4.0),
    "fidget_period": (40.0, 120.0),
    "angle_noise_deg": (0.3, 1.5),  # per sample: std of the per-frame jitter on every bone
    "root_noise_m": 0.002,
    "idle_sway_deg": (0.5, 2.0),
    "idle_sway_period": (60.0, 150.0),
    "weight_shift_m": (0.0, 0.015),
    "weight_shift_period": (80.0, 200.0),
}

_DEG = np.pi / 180
# Bones (named by the joint at their far end) that fidget: upper arms, forearms, thighs, head.
_FIDGET_LIMB_JOINTS = [motion.J[f"{side} {joint}"] for side in ("right", "left")
                       for joint in ("elbow", "wrist", "knee")]
_FIDGET_JOINTS = _FIDGET_LIMB_JOINTS + [motion.J["head"]]


def _uniform(rng, bounds, size=None):
    return rng.uniform(bounds[0], bounds[1], size)


def subject_scales(seed: int) -> np.ndarray:
    """(NUM_SUBJECTS, len(SCALE_GROUPS)) bone-group length factors; row s-1 is subject s."""
    rows = []
    for subject in range(1, NUM_SUBJECTS + 1):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, subject)))
        height = _uniform(rng, VARIATION["body_height"])
        rows.append(height * _uniform(rng, VARIATION["bone_group_factor"], len(motion.SCALE_GROUPS)))
    return np.array(rows)


def _draw_sample(rng: np.random.Generator, manner: Manner) -> dict:
    """All random choices of one sample, in a fixed order."""
    v = VARIATION
    return {
        "subject": rng.integers(1, NUM_SUBJECTS + 1),
        "frames": rng.integers(manner.frames[0], manner.frames[1] + 1),
        "period": _uniform(rng, manner.period),
        "amplitude": _uniform(rng, manner.amplitude),
        "phase": rng.uniform(),  # starting phase, or where the single repetition starts
        "lag": _uniform(rng, v["side_lag_cycles"]),
        "term_scale": _uniform(rng, v["style_term_scale"], motion.MAX_TERMS),
        "plane": _uniform(rng, v["style_plane_deg"]) * _DEG,
        "wobble": _uniform(rng, v["tempo_wobble"]),
        "wobble_period": _uniform(rng, v["tempo_wobble_period"]),
        "wobble_phase": rng.uniform(),
        # resting limbs, per side (right, left): upper arm out and forward, elbow, thigh out
        "arm_out": _uniform(rng, v["rest_arm_out_deg"], 2) * _DEG,
        "arm_forward": _uniform(rng, v["rest_arm_forward_deg"], 2) * _DEG,
        "elbow": _uniform(rng, v["rest_elbow_deg"], 2) * _DEG,
        "thigh_out": _uniform(rng, v["rest_thigh_out_deg"], 2) * _DEG,
        "head_tilt": _uniform(rng, v["rest_head_tilt_deg"], 2) * _DEG,  # about x and z
        "sway": _uniform(rng, v["idle_sway_deg"], 2) * _DEG,  # spine about x and z
        "sway_period": _uniform(rng, v["idle_sway_period"]),
        "sway_phase": rng.uniform(0, 1, 2),
        "fidget": np.concatenate([_uniform(rng, v["fidget_deg"], len(_FIDGET_LIMB_JOINTS)),
                                  _uniform(rng, v["fidget_head_deg"], 1)])[:, None]
        * rng.uniform(0, 1, (len(_FIDGET_JOINTS), 2)) * _DEG,  # per joint's bone, about x and z
        "fidget_period": _uniform(rng, v["fidget_period"], (len(_FIDGET_JOINTS), 2)),
        "fidget_phase": rng.uniform(0, 1, (len(_FIDGET_JOINTS), 2)),
        "shift": _uniform(rng, v["weight_shift_m"], 2),  # root along x and z
        "shift_period": _uniform(rng, v["weight_shift_period"]),
        "shift_phase": rng.uniform(0, 1, 2),
        "angle_noise": rng.standard_normal((MAX_FRAMES, motion.NTU25.num_joints, 3))
        * (_uniform(rng, v["angle_noise_deg"]) * _DEG),
        "root_noise": rng.standard_normal((MAX_FRAMES, 3)) * v["root_noise_m"],
        "yaw": _uniform(rng, v["camera_yaw_deg"]) * _DEG,
        "tilt": _uniform(rng, v["camera_tilt_deg"]) * _DEG,
        "roll": _uniform(rng, v["camera_roll_deg"]) * _DEG,
        # Drawn last, so that adding sequences left every earlier class's samples unchanged.
        "second_period": _uniform(rng, manner.period),  # sequences: the second movement's period
        "gap": _uniform(rng, SEQUENCE_GAP),
    }


def _phases_and_envelopes(s: dict, manner: Manner, steps: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per step of the class: (n, T) cycle phase and activity envelope of its movement."""
    t = np.arange(MAX_FRAMES, dtype=np.float64)[None]
    period, wobble_period = s["period"][:, None], s["wobble_period"][:, None]
    # Time as the performer's tempo runs it: its rate varies within 1 +- wobble.
    t = t + s["wobble"][:, None] * wobble_period / (2 * np.pi) * np.sin(
        2 * np.pi * (t / wobble_period + s["wobble_phase"][:, None]))
    if not manner.once:
        return [(t / period + s["phase"][:, None], np.ones((len(period), MAX_FRAMES)))]
    # Single repetitions placed one after the other at a random start, leaving idle frames
    # before and after them (a repetition lasts up to 1.45 periods when the tempo wobbles slow).
    periods = [s["period"], s["second_period"]][:steps]
    busy = 1.45 * sum(periods) + (s["gap"] if steps > 1 else 0)
    start = 4 + s["phase"] * np.maximum(s["frames"] - busy - 8, 0)
    out = []
    for step_period in periods:
        u = (t - start[:, None]) / step_period[:, None]
        out.append((u, _ease_in(u) * _ease_in(1 - u)))
        start = start + step_period + s["gap"]
    return out


def _ease_in(u: np.ndarray, ramp: float = 0.15) -> np.ndarray:
    """0 before u = 0, smoothly up to 1 at u = ramp (smoothstep): a held posture eases in."""
    c = np.clip(u / ramp, 0, 1)
    return c * c * (3 - 2 * c)


def _rest_and_idle_angles(s: dict) -> np.ndarray:
    """(n, T, V, 3) angles of the resting limbs and head, their fidgeting, and the spine's idle sway."""
    n, B = len(s["subject"]), motion.BONES
    side = np.zeros((2, n, motion.NTU25.num_joints, 3))  # right-side pattern for each side
    side[:, :, B["right upper arm"], 0] = s["arm_forward"].T
    side[:, :, B["right upper arm"], 2] = s["arm_out"].T
    side[:, :, B["right forearm"], 0] = s["elbow"].T
    side[:, :, B["right thigh"], 2] = s["thigh_out"].T
    rest = side[0] + motion.mirror_angles(side[1])
    rest[:, B["head"], [0, 2]] = s["head_tilt"]
    t = np.arange(MAX_FRAMES)[None, :, None]
    sway = s["sway"][:, None] * np.sin(2 * np.pi * (t / s["sway_period"][:, None, None]
                                                    + s["sway_phase"][:, None]))  # (n, T, 2)
    angles = np.repeat(rest[:, None], MAX_FRAMES, axis=1)
    fidget = s["fidget"][:, None] * np.sin(2 * np.pi * (t[..., None] / s["fidget_period"][:, None]
                                                        + s["fidget_phase"][:, None]))  # (n, T, J, 2)
    angles[:, :, _FIDGET_JOINTS, 0] += fidget[..., 0]
    angles[:, :, _FIDGET_JOINTS, 2] += fidget[..., 1]
    for bone in ("lower spine", "upper spine"):
        angles[:, :, B[bone], 0] += sway[..., 0] / 2
        angles[:, :, B[bone], 2] += sway[..., 1] / 2
    return angles


def _axis_rotation(axis: int, angle: np.ndarray) -> np.ndarray:
    """(n, 3, 3) rotations by `angle` (n,) about coordinate axis `axis`."""
    angles = np.zeros((len(angle), 3))
    angles[:, axis] = angle
    return motion.rotation_matrices(angles)


def _animate_class(steps, manner: Manner, s: dict, scales: np.ndarray) -> np.ndarray:
    """Skeletons of one class ((part, movement) steps, in order) from its samples' draws `s`
    (stacked): (n, 3, T, V, 1) float32."""
    angles = _rest_and_idle_angles(s) + s["angle_noise"]
    for (part, movement), (phase, envelope) in zip(steps, _phases_and_envelopes(s, manner, len(steps))):
        family, sides = PARTS[part]
        for side in sides:
            lag = s["lag"][:, None] if side == "left" and len(sides) == 2 else 0.0
            pattern = motion.movement_angles(family, movement, phase + lag, s["amplitude"], envelope,
                                             s["term_scale"], s["plane"])
            angles += pattern if side == "right" else motion.mirror_angles(pattern)
    body = motion.forward_kinematics(motion.body_offsets(scales[s["subject"] - 1]), angles)

    t = np.arange(MAX_FRAMES)[None, :, None]
    shift = s["shift"][:, None] * np.sin(2 * np.pi * (t / s["shift_period"][:, None, None]
                                                      + s["shift_phase"][:, None]))
    body[..., 0] += shift[..., :1]
    body[..., 2] += shift[..., 1:]
    body += s["root_noise"][:, :, None]

    # The person turned by `yaw` about the vertical, seen by a camera with some tilt and roll.
    rotation = _axis_rotation(0, s["tilt"]) @ _axis_rotation(2, s["roll"]) @ _axis_rotation(1, s["yaw"])
    xyz = (body.reshape(len(body), -1, 3) @ rotation.transpose(0, 2, 1)).reshape(body.shape)
    # As the real datasets' preparation does: the centre joint of the first frame is the origin.
    xyz -= xyz[:, :1, motion.NTU25.center][:, :, None]
    xyz[np.arange(MAX_FRAMES)[None] >= s["frames"][:, None]] = 0.0
    return xyz.transpose(0, 3, 1, 2)[..., None].astype(np.float32)


def generate(samples_per_class: int = 40, seed: int = 0) -> tuple[np.ndarray, list[dict]]:
    """The whole dataset in memory.

    Returns x: (68 * samples_per_class, 3, MAX_FRAMES, 25, 1) float32, class-major order, and
    one manifest row per sample: name, label, frames, subject, xsub ("train"/"test").
    """
    if samples_per_class < 1:
        raise ValueError(f"samples_per_class must be at least 1, got {samples_per_class}")
    scales = subject_scales(seed)
    xs, rows = [], []
    for label, attributes in enumerate(tqdm(CLASS_ATTRIBUTES, desc="synthetic", leave=False)):
        manner = MANNERS[attributes["manner"]]
        draws = [_draw_sample(np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0, label, i))),
                              manner) for i in range(samples_per_class)]
        stacked = {key: np.stack([d[key] for d in draws]) for key in draws[0]}
        xs.append(_animate_class(attributes["steps"], manner, stacked, scales))
        for i, (subject, frames) in enumerate(zip(stacked["subject"], stacked["frames"])):
            rows.append({"name": f"syn_c{label:02d}_s{subject:02d}_{i:04d}", "label": label,
                         "frames": int(frames), "subject": int(subject),
                         "xsub": "train" if subject % 2 else "test"})
    return np.concatenate(xs), rows


def _source(samples_per_class: int, seed: int) -> dict:
    """Generation parameters as stored in meta.json (JSON types, so a stored copy compares equal)."""
    return json.loads(json.dumps({
        "generator": __name__, "seed": seed, "samples_per_class": samples_per_class,
        "max_frames": MAX_FRAMES, "subjects": NUM_SUBJECTS, "classes": CLASS_ATTRIBUTES,
        "manners": {name: asdict(m) for name, m in MANNERS.items()},
        "variation": VARIATION, "patterns": motion.PATTERNS,
    }))


def prepare_synthetic(out_dir, *, samples_per_class: int = 40, seed: int = 0,
                      overwrite: bool | str = False) -> Path:
    """Generate the dataset into `out_dir` (the prepared-dataset format of neuron.data.store).

    A directory already holding the dataset generated with the same parameters is kept as is.
    One generated differently is an error, unless `overwrite` is True (regenerate it) or
    "outdated": then a copy made by another version of this module (e.g. before the sequence
    classes existed) is generated again with its own seed and size, and any other is kept.
    """
    out_dir = Path(out_dir)
    source = _source(samples_per_class, seed)
    regenerate = overwrite is True
    if (out_dir / "meta.json").exists() and not regenerate and read_meta(out_dir)["name"] == "synthetic":
        stored = read_meta(out_dir).get("source") or {}
        if overwrite == "outdated":
            seed, samples_per_class = stored.get("seed", seed), stored.get("samples_per_class", samples_per_class)
            source = _source(samples_per_class, seed)
            regenerate = stored != source
            if regenerate:
                print(f"{out_dir}: made by an earlier version of the synthetic generator; generating it again")
        elif stored != source:
            raise ExistingOutputError(
                f"{out_dir} holds a dataset generated with other parameters (stored seed={stored.get('seed')!r}, "
                f"samples_per_class={stored.get('samples_per_class')!r}, or another generator version); pass "
                f"--overwrite to generate seed={seed}, samples_per_class={samples_per_class}, or choose another --out")
        if not regenerate:
            return out_dir
    x, rows = generate(samples_per_class, seed)
    # "outdated" replaces only a synthetic copy found above; anything else in out_dir is refused as before.
    return write_dataset(out_dir, x, rows, name="synthetic", layout=LAYOUT, class_names=CLASS_NAMES,
                         benchmarks=BENCHMARKS, source=source, origin="the synthetic generator",
                         overwrite=regenerate)
