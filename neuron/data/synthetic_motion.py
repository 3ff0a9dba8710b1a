"""Body model and movement library of the synthetic dataset: NTU 25-joint skeletons animated
by joint angles and forward kinematics.

Body frame: x points to the person's right, y up, z to the person's back, so the person faces
-z, i.e. a camera that looks along +z (NTU RGB+D's camera coordinates). Units are metres.

The bone tree is the NTU25 layout's, rooted at the base of the spine (the pelvis), so that legs
and spine both hang from it. Every non-root joint j owns the bone (parent(j) -> j) and a local
rotation R_j = Rz(rz) @ Rx(rx) @ Ry(ry) of that bone about the parent joint, given by angles
(rx, ry, rz) in the parent bone's frame. Forward kinematics composes the rotations down the
tree, G_j = G_parent @ R_j, and places p_j = p_parent + G_j @ offset_j, so bone lengths equal
the rest offsets' lengths in every frame, whatever the angles.

Sign conventions of the angles: for a bone that hangs down (arm, leg), +rx swings it forward
and +rz swings a right-side bone outward; for a bone that points up (spine, neck), -rx bends
it forward; ry turns a bone about its own axis (a twist). Patterns are written for the right
side (or the midline); `mirror_angles` maps them onto the left side.
"""

from collections import deque

import numpy as np

from neuron.data.layouts import NTU25

J = {name: i for i, name in enumerate(NTU25.joint_names)}
ROOT = J["base of spine"]


def _rooted_tree(root: int) -> tuple[list[int], np.ndarray]:
    """Joints in breadth-first order from `root`, and each joint's parent in that tree."""
    neighbours = {j: [] for j in range(NTU25.num_joints)}
    for a, b in NTU25.bones:
        neighbours[a].append(b)
        neighbours[b].append(a)
    order, parent = [root], np.full(NTU25.num_joints, -1)
    parent[root] = root
    queue = deque([root])
    while queue:
        j = queue.popleft()
        for k in neighbours[j]:
            if parent[k] < 0:
                parent[k] = j
                order.append(k)
                queue.append(k)
    return order, parent


ORDER, PARENT = _rooted_tree(ROOT)

# Left <-> right joint correspondence (a permutation of the 25 joints, an involution).
MIRROR = np.arange(NTU25.num_joints)
for _side in ("arm", "leg"):
    for _l, _r in zip(NTU25.parts[f"left {_side}"], NTU25.parts[f"right {_side}"]):
        MIRROR[_l], MIRROR[_r] = _r, _l

# Offset of each joint from its tree parent for a reference body about 1.75 m tall, standing
# upright with arms and legs hanging straight down; the left side mirrors the right.
# Group names select the subject's scale factor for that bone (see `body_offsets`).
_RIGHT_AND_MIDLINE_REST = {
    # joint: (offset from parent, scale group)
    "middle of spine": ((0.0, 0.25, 0.0), "torso"),
    "spine shoulder": ((0.0, 0.21, 0.0), "torso"),
    "neck": ((0.0, 0.07, 0.0), "torso"),
    "head": ((0.0, 0.13, -0.01), "torso"),
    "right shoulder": ((0.17, -0.02, 0.0), "shoulders"),
    "right elbow": ((0.0, -0.28, 0.0), "arm"),
    "right wrist": ((0.0, -0.25, 0.0), "arm"),
    "right hand": ((0.0, -0.07, 0.0), "arm"),
    "right thumb": ((-0.02, -0.02, -0.03), "arm"),
    "right hand tip": ((0.02, -0.06, 0.03), "arm"),
    "right hip": ((0.08, -0.03, 0.0), "hips"),
    "right knee": ((0.0, -0.40, 0.0), "leg"),
    "right ankle": ((0.0, -0.39, 0.0), "leg"),
    "right foot": ((0.0, -0.05, -0.11), "leg"),
}
SCALE_GROUPS = ("torso", "shoulders", "arm", "hips", "leg")


def _rest_tables() -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros((NTU25.num_joints, 3))
    group = np.zeros(NTU25.num_joints, dtype=np.int64)
    for name, (offset, grp) in _RIGHT_AND_MIDLINE_REST.items():
        j = J[name]
        offsets[MIRROR[j]] = (-offset[0], offset[1], offset[2])  # midline joints: x = 0, themselves
        offsets[j] = offset
        group[j] = group[MIRROR[j]] = SCALE_GROUPS.index(grp)
    return offsets, group


REST_OFFSETS, SCALE_GROUP = _rest_tables()  # (V, 3) metres, (V,) index into SCALE_GROUPS


def body_offsets(scales: np.ndarray) -> np.ndarray:
    """Rest offsets of bodies with per-group length factors.

    scales: (n, len(SCALE_GROUPS)), each bone group's length factor (overall height included).
    Returns (n, V, 3) offsets from each joint's tree parent.
    """
    return REST_OFFSETS[None] * scales[:, SCALE_GROUP, None]


def rotation_matrices(angles: np.ndarray) -> np.ndarray:
    """(..., 3) angles (rx, ry, rz) in radians -> (..., 3, 3) rotations Rz @ Rx @ Ry."""
    per_axis = np.moveaxis(angles, -1, 0)
    (cx, cy, cz), (sx, sy, sz) = np.cos(per_axis), np.sin(per_axis)
    r = np.empty((*angles.shape, 3))
    # The product Rz(rz) @ Rx(rx) @ Ry(ry), written out.
    r[..., 0, 0] = cz * cy - sz * sx * sy
    r[..., 0, 1] = -sz * cx
    r[..., 0, 2] = cz * sy + sz * sx * cy
    r[..., 1, 0] = sz * cy + cz * sx * sy
    r[..., 1, 1] = cz * cx
    r[..., 1, 2] = sz * sy - cz * sx * cy
    r[..., 2, 0] = -cx * sy
    r[..., 2, 1] = sx
    r[..., 2, 2] = cx * cy
    return r


def forward_kinematics(offsets: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Joint positions in the body frame, the root (base of spine) at the origin.

    offsets: (n, V, 3) rest offsets from the tree parent; angles: (n, T, V, 3) local bone
    rotations (the root's entry rotates the whole body about the root).
    Returns (n, T, V, 3).
    """
    local = rotation_matrices(np.moveaxis(angles, 2, 0))  # (V, n, T, 3, 3): one block per joint
    world = np.empty_like(local)
    pos = np.zeros(local.shape[:-1])
    world[ROOT] = local[ROOT]
    for j in ORDER[1:]:
        p = PARENT[j]
        w = world[j] = world[p] @ local[j]
        o = offsets[:, None, j, :, None]  # (n, 1, 3, 1), broadcast over frames
        pos[j] = pos[p] + w[..., 0] * o[:, :, 0] + w[..., 1] * o[:, :, 1] + w[..., 2] * o[:, :, 2]
    return np.moveaxis(pos, 0, 2)


def mirror_angles(angles: np.ndarray) -> np.ndarray:
    """Angles (..., V, 3) of the mirror-image movement: left and right joints swapped, and the
    rotations about y and z (which mirror in the x = 0 plane reverses) negated."""
    return angles[..., MIRROR, :] * np.array([1.0, -1.0, -1.0])


# Waveforms of the cycle phase `u` (in cycles): every movement is a periodic pattern, one
# period being one repetition (up and down, or forth and back, or once around).
WAVEFORMS = {
    "hold": lambda u: np.ones_like(u),  # a posture held while the movement lasts
    "out": lambda u: 0.5 - 0.5 * np.cos(2 * np.pi * u),  # from rest out to the extreme and back
    "sin": lambda u: np.sin(2 * np.pi * u),  # one way and the other, through the rest posture
    "cos": lambda u: np.cos(2 * np.pi * u),  # with "sin": around a circle
    "twice": lambda u: np.sin(2 * np.pi * u) ** 2,  # out and back twice per repetition
}

AXES = {"x": 0, "y": 1, "z": 2}

# Bones by what they move; the value is the joint that owns the bone (the bone's far end).
BONES = {
    "lower spine": J["middle of spine"],
    "upper spine": J["spine shoulder"],
    "neck": J["neck"],
    "head": J["head"],
    "right upper arm": J["right elbow"],
    "right forearm": J["right wrist"],
    "right thigh": J["right knee"],
    "right shin": J["right ankle"],
}

# Body families: which movements each can perform, as terms (bone, axis, waveform, degrees)
# for the right side or the midline. "hold" terms are a posture kept during the movement (the
# raised arm of a wave); the other terms are the repeated motion, scaled by the sample's
# amplitude. Terms on the same bone and axis add up.
PATTERNS = {
    "arm": {
        "raise": [("right upper arm", "x", "out", 150), ("right forearm", "x", "out", 15)],
        "swing": [("right upper arm", "x", "sin", 50), ("right forearm", "x", "hold", 15)],
        "circle": [("right upper arm", "x", "hold", 70), ("right upper arm", "x", "sin", 45),
                   ("right upper arm", "z", "cos", 45)],
        # From the hand at the chest (elbow bent) to the arm stretched forward.
        "push": [("right upper arm", "x", "hold", 25), ("right upper arm", "z", "hold", 15),
                 ("right forearm", "x", "hold", 110), ("right upper arm", "x", "out", 60),
                 ("right upper arm", "z", "out", -15), ("right forearm", "x", "out", -110)],
        # Upper arm out to the side, forearm up, waving in the frontal plane.
        "sway": [("right upper arm", "z", "hold", 80), ("right forearm", "z", "hold", 100),
                 ("right forearm", "z", "sin", 35)],
        "bend": [("right upper arm", "x", "out", 10), ("right forearm", "x", "out", 130)],
    },
    "leg": {
        "raise": [("right thigh", "x", "out", 95), ("right shin", "x", "out", -100)],
        "swing": [("right thigh", "x", "sin", 35), ("right shin", "x", "out", -15)],
        "circle": [("right thigh", "x", "hold", 25), ("right thigh", "z", "hold", 20),
                   ("right thigh", "x", "sin", 20), ("right thigh", "z", "cos", 18)],
        # Knee bent while the thigh rises and falls, straight at the top: the snap of a kick.
        "kick": [("right thigh", "x", "out", 80), ("right shin", "x", "twice", -90)],
        "bend": [("right thigh", "x", "out", -5), ("right shin", "x", "out", -110)],
        "sway": [("right thigh", "z", "out", 40)],
    },
    "torso": {
        "bend": [("lower spine", "x", "out", -30), ("upper spine", "x", "out", -30)],
        "sway": [("lower spine", "z", "sin", 12), ("upper spine", "z", "sin", 12)],
        "twist": [("lower spine", "y", "sin", 15), ("upper spine", "y", "sin", 25)],
        "circle": [("lower spine", "x", "sin", 10), ("upper spine", "x", "sin", 10),
                   ("lower spine", "z", "cos", 10), ("upper spine", "z", "cos", 10)],
    },
    "head": {
        "bend": [("neck", "x", "out", -15), ("head", "x", "out", -30)],
        "sway": [("neck", "z", "sin", 10), ("head", "z", "sin", 25)],
        "circle": [("neck", "x", "sin", 8), ("head", "x", "sin", 20),
                   ("neck", "z", "cos", 8), ("head", "z", "cos", 20)],
    },
}


MAX_TERMS = max(len(terms) for family in PATTERNS.values() for terms in family.values())
# Bones whose forward (x) motions a performer may turn outward (raise the arm diagonally).
_PLANE_BONES = {"right upper arm", "right thigh"}


def movement_angles(family: str, movement: str, phase: np.ndarray, amplitude: np.ndarray,
                    envelope: np.ndarray, term_scale: np.ndarray, plane: np.ndarray) -> np.ndarray:
    """Local bone angles of one movement, right side or midline, as individual performers do it.

    phase: (n, T) cycle phase in cycles; amplitude: (n,) factor on the repeated motion;
    envelope: (n, T) in [0, 1], 1 while the movement is performed (0 before/after a single
    repetition); term_scale: (n, MAX_TERMS) each pattern term's factor (a performer's style:
    a higher held arm, a wider circle, a bent knee); plane: (n,) radians by which the forward
    motions of the upper arm or thigh turn outward. Returns (n, T, V, 3) radians.
    """
    try:
        terms = PATTERNS[family][movement]
    except KeyError:
        raise ValueError(f"no movement {movement!r} for the {family!r} family; it has: "
                         f"{sorted(PATTERNS.get(family, {}))}") from None
    angles = np.zeros((*phase.shape, NTU25.num_joints, 3))
    for k, (bone, axis, waveform, degrees) in enumerate(terms):
        scale = np.deg2rad(degrees) * term_scale[:, k] * (1.0 if waveform == "hold" else amplitude)
        angle = scale[:, None] * WAVEFORMS[waveform](phase) * envelope
        j = BONES[bone]
        if axis == "x" and waveform != "hold" and bone in _PLANE_BONES:
            angles[:, :, j, AXES["x"]] += angle * np.cos(plane)[:, None]
            angles[:, :, j, AXES["z"]] += angle * np.sin(plane)[:, None]
        else:
            angles[:, :, j, AXES[axis]] += angle
    return angles
