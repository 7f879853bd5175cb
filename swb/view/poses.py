"""Poses between SWB's world (metres, Z up; cameras as in USD: looking along -Z, +Y up), the browser's 3-D view
(viser: quaternions w, x, y, z; camera frusta and the viewer camera in the OpenCV convention, +Z forward, +Y down)
and the stage's units and axes, where the viewer pose is saved (``UiState.viewer_camera_transform``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import viser.transforms as vtf

from ..stage.units import stage_to_world

# USD camera axes -> OpenCV camera axes (flip Y and Z)
_USD_TO_CV = np.diag([1.0, -1.0, -1.0])


def wxyz(rotation: np.ndarray) -> np.ndarray:
    """Quaternion (w, x, y, z) of a rotation matrix."""
    return np.asarray(vtf.SO3.from_matrix(np.asarray(rotation, np.float64)).wxyz, np.float64)


def matrix(q: Sequence[float]) -> np.ndarray:
    """Rotation matrix of a quaternion (w, x, y, z), re-normalised."""
    q = np.asarray(q, np.float64)
    return np.asarray(vtf.SO3(q / np.linalg.norm(q)).as_matrix(), np.float64)


def frustum_wxyz(camera_rotation: np.ndarray) -> np.ndarray:
    """The frustum's orientation for a camera with this USD rotation (camera -> world)."""
    return wxyz(np.asarray(camera_rotation, np.float64) @ _USD_TO_CV)


class StageAxes:
    """The stage's units and up axis: viewer poses go into the UI state in stage units, as a USD viewer has them."""

    def __init__(self, meters_per_unit: float, up_axis: str) -> None:
        self.to_world = stage_to_world(meters_per_unit, up_axis)
        self.rotation = self.to_world[:3, :3] / meters_per_unit  # stage axes -> world axes, no scale

    def point_to_stage(self, p: Sequence[float]) -> np.ndarray:
        return np.linalg.solve(self.to_world, np.append(np.asarray(p, np.float64), 1.0))[:3]

    def point_to_world(self, p: Sequence[float]) -> np.ndarray:
        return (self.to_world @ np.append(np.asarray(p, np.float64), 1.0))[:3]

    def viewer_to_stage(self, position: Sequence[float], q: Sequence[float]) -> tuple[tuple[float, ...], ...]:
        """USD row-vector matrix (stage units, rigid) of the browser's camera (world position, OpenCV wxyz)."""
        rot = self.rotation.T @ matrix(q) @ _USD_TO_CV
        m = np.eye(4)
        m[:3, :3] = rot
        m[:3, 3] = self.point_to_stage(position)
        return tuple(tuple(float(x) for x in row) for row in m.T)

    def viewer_from_stage(self, transform: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
        """(world position, OpenCV wxyz) of a saved viewer pose."""
        m = np.asarray(transform, np.float64).T
        rot = self.rotation @ m[:3, :3] @ _USD_TO_CV
        u, _, vt = np.linalg.svd(rot)
        return self.point_to_world(m[:3, 3]), wxyz(u @ vt)
