"""Coordinate transforms shared by the dataset loaders."""

import numpy as np


def translate_to_origin(x: np.ndarray, center, coordinates: int = 3) -> np.ndarray:
    """Translate x (C, T, V, M) so that joint `center` of the first body, in the first frame
    where that body appears, is the origin. Zero joints (absent bodies) stay zero.

    The first body is body 0, or the first body that appears when body 0 never does.
    center: a joint index, or a tuple of joints whose mean is the centre (e.g. both hips).
    coordinates: how many leading channels are coordinates; the rest (a pose estimator's
    confidence) are left as they are.
    """
    present = np.any(x != 0, axis=0)  # (T, V, M): joint recorded
    body_in_frame = present.any(axis=1)  # (T, M)
    bodies = np.flatnonzero(body_in_frame.any(axis=0))
    if len(bodies) == 0:
        raise ValueError("no body in any frame")
    body = bodies[0]
    first = int(np.argmax(body_in_frame[:, body]))
    joints = np.atleast_1d(center)
    origin = np.zeros(x.shape[0], dtype=x.dtype)
    origin[:coordinates] = x[:coordinates, first, joints, body].mean(axis=1)
    return np.where(present, x - origin[:, None, None, None], 0).astype(x.dtype)


def with_confidence(x: np.ndarray, axis: int) -> np.ndarray:
    """Image coordinates (x, y) along `axis` -> (x, y, confidence): 1 where a joint is, 0 where
    it is absent (both coordinates zero)."""
    return np.concatenate([x, np.any(x != 0, axis=axis, keepdims=True).astype(x.dtype)], axis=axis)
