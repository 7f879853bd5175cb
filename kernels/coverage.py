"""Design kernels: the candidate x sample decodability matrix of the optimiser, and per-pair verdicts for a few
cameras.

Every camera x sample runs ``sweep_verdict`` (the pair model of ``evaluate_pair`` with the sweep's early exits and
own-parcel occlusion rule), so a candidate reads exactly what ``swb eval`` would find for that camera; there is no
second model here. ``candidate_bits`` packs 32 samples per thread into one uint32 word (bit k = sample
32 * word + k), so a 100 000-candidate x 2 000-sample matrix is 25 MB and needs no atomics: the result does not
depend on the launch order or the device.
"""

from __future__ import annotations

import warp as wp

from .camera import Camera, Target
from .lighting import Lighting
from .sweep import cannot_matter, sweep_verdict
from .visibility import surely_outside

wp.set_module_options({"enable_backward": False})


@wp.kernel
def candidate_bits(
    cameras: wp.array(dtype=Camera),
    samples: wp.array(dtype=Target),
    groups: wp.array(dtype=wp.int32),
    face_group: wp.array(dtype=wp.int32),
    mesh: wp.uint64,
    has_mesh: int,
    lit: Lighting,
    n_samples: int,
    bits: wp.array2d(dtype=wp.uint32),
):
    """Thread (c, word): camera c against samples 32 * word .. 32 * word + 31; bit k set when it decodes. A pair
    out of view, facing away or below the decodable floor by the resolution bound (``cannot_matter``) skips the
    model: it cannot decode."""
    c, word = wp.tid()
    cam = cameras[c]
    m = wp.uint32(0)
    for k in range(32):
        s = word * 32 + k
        if s < n_samples:
            tgt = samples[s]
            if not surely_outside(cam, tgt):
                if not cannot_matter(cam, tgt, True, 0.0):  # "settled": only whether it reads counts here
                    v = sweep_verdict(cam, tgt, mesh, has_mesh, face_group, groups[s], lit)
                    if v.decodable != 0:
                        m = m | (wp.uint32(1) << wp.uint32(k))
    bits[c, word] = m


@wp.kernel
def camera_verdicts(
    cameras: wp.array(dtype=Camera),
    samples: wp.array(dtype=Target),
    sample_idx: wp.array(dtype=wp.int32),
    groups: wp.array(dtype=wp.int32),
    face_group: wp.array(dtype=wp.int32),
    mesh: wp.uint64,
    has_mesh: int,
    lit: Lighting,
    decodable: wp.array2d(dtype=wp.uint8),
    key: wp.array2d(dtype=wp.float32),
    score: wp.array2d(dtype=wp.float32),
    limiting: wp.array2d(dtype=wp.int32),
):
    """Thread (c, j): camera c against sample ``sample_idx[j]`` in full: decodable, the closeness key of
    ``sweep_verdict`` (4 when it decodes), the score and the limiting factor."""
    c, j = wp.tid()
    s = sample_idx[j]
    v = sweep_verdict(cameras[c], samples[s], mesh, has_mesh, face_group, groups[s], lit)
    decodable[c, j] = wp.uint8(v.decodable)
    key[c, j] = v.key
    score[c, j] = v.score
    limiting[c, j] = v.limiting


@wp.kernel
def closest_camera(
    cameras: wp.array(dtype=Camera),
    samples: wp.array(dtype=Target),
    sample_idx: wp.array(dtype=wp.int32),
    groups: wp.array(dtype=wp.int32),
    face_group: wp.array(dtype=wp.int32),
    mesh: wp.uint64,
    has_mesh: int,
    lit: Lighting,
    best_camera: wp.array(dtype=wp.int32),
    best_key: wp.array(dtype=wp.float32),
    best_limiting: wp.array(dtype=wp.int32),
):
    """Thread j: of all cameras, the one that comes closest to reading sample ``sample_idx[j]`` (highest key, the
    first on ties) and its limiting factor (0 when one decodes it): why a label no candidate reads stays unread."""
    j = wp.tid()
    s = sample_idx[j]
    tgt = samples[s]
    g = groups[s]
    best = wp.int32(-1)
    key = wp.float32(-1.0)
    lim = wp.int32(0)
    for c in range(cameras.shape[0]):
        if key < 4.0:
            v = sweep_verdict(cameras[c], tgt, mesh, has_mesh, face_group, g, lit)
            if v.key > key:
                key = v.key
                best = c
                lim = v.limiting
    best_camera[j] = best
    best_key[j] = key
    best_limiting[j] = lim
