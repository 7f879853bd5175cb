"""Host side of the view pre-test (kernels/visibility.py ``ViewCull``, ``TargetCull``): per-camera plane records
and per-target spheres, so a kernel rules out a camera x target that surely misses the view from 108 bytes
instead of loading the 292-byte camera and the 112-byte target. The pair kernel and the sweep both use them."""

from __future__ import annotations

import numpy as np

from swb.kernels.visibility import CULL_GROW, CULL_PAD, TargetCull, ViewCull

_VIEW_DTYPE = np.dtype(ViewCull.numpy_dtype())
_TARGET_DTYPE = np.dtype(TargetCull.numpy_dtype())


def view_records(records: np.ndarray) -> np.ndarray:
    """``ViewCull`` records of camera records (any shape), for ``sweep_configs``' ``views``: camera (x, y, depth)
    = (R^T d)_x, (R^T d)_y, -(R^T d)_z for d = p - pos, so a camera-frame plane normal n is R (n_x, n_y, -n_z) in
    the world; the planes are kernels/sweep.py surely_outside's (u >= 0: fx x + cx depth >= 0, ...)."""
    rot = records["rot"].astype(np.float64)
    fx, fy = records["fx"].astype(np.float64), records["fy"].astype(np.float64)
    cx, cy = records["cx"].astype(np.float64), records["cy"].astype(np.float64)
    w, h = records["width"].astype(np.float64), records["height"].astype(np.float64)
    zero = np.zeros_like(fx)
    normals = np.stack([np.stack(n, axis=-1) for n in (
        (fx, zero, cx), (-fx, zero, w - cx), (zero, -fy, cy), (zero, fy, h - cy))], axis=-2)  # (..., 4, 3)
    with np.errstate(invalid="ignore", divide="ignore"):  # an all-zero placeholder row: NaN planes cull nothing
        normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    normals[..., 2] *= -1.0
    world = np.einsum("...ij,...kj->...ki", rot, normals)
    out = np.empty(records.shape, dtype=_VIEW_DTYPE)
    out["pos"] = records["pos"]
    out["depth"] = -rot[..., :, 2]
    out["planes"] = world[..., :3, :]
    out["plane_v"] = world[..., 3, :]
    out["clip_near"] = records["clip_near"]
    out["clip_far"] = records["clip_far"]
    return out


def target_spheres(records: np.ndarray) -> np.ndarray:
    """``TargetCull`` records of target records: centre, normal (the rotation's third column, as
    ``target_normal``) and ``surely_outside``'s grown radius of the symbol with its quiet zone."""
    out = np.empty(records.shape, dtype=_TARGET_DTYPE)
    out["pos"] = records["pos"]
    out["normal"] = records["rot"][..., :, 2]
    half = records["half_size_qz"].astype(np.float32)
    out["radius"] = np.sqrt((half * half).sum(axis=-1)) * np.float32(CULL_GROW) + np.float32(CULL_PAD)
    return out
