"""Joint layouts: joint names, bone graphs and body parts of the skeleton formats we read.

Joint indices are 0-based everywhere in the project. A bone is (child, parent), pointing
towards the root of the tree (spine shoulder for ntu25, hip centre for kinect20, left hip for
coco17), as in the ST-GCN lineage's "inward" edges.

Channels: the Kinect layouts carry (x, y, z); a planar layout (coco17, 2-D keypoints of a pose
estimator) carries (x, y, confidence): translation and rotation then touch x and y only.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Layout:
    name: str
    joint_names: tuple[str, ...]
    bones: tuple[tuple[int, int], ...]  # (child, parent), 0-based
    center: int | tuple[int, ...]  # joint (or joints, by their mean) translated to the origin
    parts: dict[str, tuple[int, ...]]  # body part -> joints, for descriptions and synthesis
    planar: bool = False  # channels (x, y, confidence) instead of (x, y, z)

    @property
    def coordinates(self) -> int:
        """How many leading channels are coordinates (the rest is a confidence)."""
        return 2 if self.planar else 3

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def adjacency(self) -> np.ndarray:
        """Symmetric (V, V) 0/1 adjacency of the bone graph, without self loops."""
        a = np.zeros((self.num_joints, self.num_joints), dtype=np.float32)
        for child, parent in self.bones:
            a[child, parent] = a[parent, child] = 1.0
        return a

    def parents(self) -> np.ndarray:
        """(V,) parent of each joint along the bone tree; the root's parent is itself."""
        p = np.arange(self.num_joints)
        for child, parent in self.bones:
            p[child] = parent
        return p


def _bones_from_1based(pairs):
    return tuple((c - 1, p - 1) for c, p in pairs)


# Kinect v2 as recorded by NTU RGB+D (and PKU-MMD); the NTU documentation numbers joints 1..25.
NTU25 = Layout(
    name="ntu25",
    joint_names=(
        "base of spine", "middle of spine", "neck", "head",
        "left shoulder", "left elbow", "left wrist", "left hand",
        "right shoulder", "right elbow", "right wrist", "right hand",
        "left hip", "left knee", "left ankle", "left foot",
        "right hip", "right knee", "right ankle", "right foot",
        "spine shoulder", "left hand tip", "left thumb", "right hand tip", "right thumb",
    ),
    bones=_bones_from_1based([
        (1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7),
        (9, 21), (10, 9), (11, 10), (12, 11), (13, 1), (14, 13), (15, 14), (16, 15),
        (17, 1), (18, 17), (19, 18), (20, 19), (22, 23), (23, 8), (24, 25), (25, 12),
    ]),
    center=1,  # middle of spine (joint 2 in NTU numbering)
    parts={
        "torso": (0, 1, 20),
        "head": (2, 3),
        "left arm": (4, 5, 6, 7, 21, 22),
        "right arm": (8, 9, 10, 11, 23, 24),
        "left leg": (12, 13, 14, 15),
        "right leg": (16, 17, 18, 19),
    },
)

# Kinect v1 as recorded by UTD-MHAD (joint order as documented by the dataset).
KINECT20 = Layout(
    name="kinect20",
    joint_names=(
        "head", "shoulder center", "spine", "hip center",
        "left shoulder", "left elbow", "left wrist", "left hand",
        "right shoulder", "right elbow", "right wrist", "right hand",
        "left hip", "left knee", "left ankle", "left foot",
        "right hip", "right knee", "right ankle", "right foot",
    ),
    bones=_bones_from_1based([
        (1, 2), (2, 3), (3, 4), (5, 2), (6, 5), (7, 6), (8, 7), (9, 2), (10, 9),
        (11, 10), (12, 11), (13, 4), (14, 13), (15, 14), (16, 15), (17, 4), (18, 17),
        (19, 18), (20, 19),
    ]),
    center=2,  # spine
    parts={
        "torso": (1, 2, 3),
        "head": (0,),
        "left arm": (4, 5, 6, 7),
        "right arm": (8, 9, 10, 11),
        "left leg": (12, 13, 14, 15),
        "right leg": (16, 17, 18, 19),
    },
)

# COCO-17 keypoints, as written by pose estimators on video (MMPose, RTMPose, OpenPose's COCO
# model, ...): image x, y and a confidence per joint. It has no spine joint: the centre is the
# midpoint of the hips.
COCO17 = Layout(
    name="coco17",
    joint_names=(
        "nose", "left eye", "right eye", "left ear", "right ear",
        "left shoulder", "right shoulder", "left elbow", "right elbow", "left wrist", "right wrist",
        "left hip", "right hip", "left knee", "right knee", "left ankle", "right ankle",
    ),
    bones=((12, 11), (5, 11), (6, 12), (7, 5), (9, 7), (8, 6), (10, 8), (13, 11), (15, 13),
           (14, 12), (16, 14), (3, 5), (1, 3), (0, 1), (4, 6), (2, 4)),
    center=(11, 12),
    parts={
        "torso": (5, 6, 11, 12),
        "head": (0, 1, 2, 3, 4),
        "left arm": (7, 9),
        "right arm": (8, 10),
        "left leg": (13, 15),
        "right leg": (14, 16),
    },
    planar=True,
)

LAYOUTS = {layout.name: layout for layout in (NTU25, KINECT20, COCO17)}


def get_layout(name: str) -> Layout:
    try:
        return LAYOUTS[name]
    except KeyError:
        raise ValueError(f"unknown joint layout {name!r}; valid layouts: {', '.join(sorted(LAYOUTS))}") from None
