"""Sweep kernels: many candidate configurations x cameras x parcel-orientation samples in a few launches.

Each camera x sample runs the pair model of ``evaluate_pair`` (so a configuration decodes exactly what ``swb eval``
finds for the same cameras), with early exits for symbols out of view or facing away; occlusion rays are cast only
for pairs that pass everything else. A sample turned or moved with its parcel ignores that parcel's own
geometry (its labels sit on the parcel's convex faces, so facing already decides self-occlusion); every other
triangle still occludes.

Weights are integers and sums use integer atomics, so results do not depend on launch order, chunking or device.
Per configuration and sample the varied cameras are looped over, stopping as soon as two cameras read the sample
(coverage and per-camera unique contribution are settled then), and skipping a camera that surely neither reads
the sample nor comes closest to reading it (``cannot_matter``: facing away, or a cheap resolution bound below the
decodable floor), so the model runs in full only where it can change a sum. The fixed cameras are evaluated once
per sample by ``fixed_pass``.

The camera that explains an unread sample is the one that comes closest to reading it, by ``Verdict.key``:
0 outside the view, 1 facing away, 2 + visible share when it has every margin but is occluded (beyond what the
decoder's occlusion trait tolerates), 3 + min(combined, angle, glare, exposure margin) when it lacks margin.
Its factor is the sample's limiting factor; for a camera that lacks margin that is the margin's factor
(resolution, defocus, motion, angle, glare, exposure) whether or not it is also occluded, which is what would
have to change first; checking its rays too would cost more than the rest of the sweep.
"""

from __future__ import annotations

import warp as wp

from .camera import Camera, Target
from .evaluate import pair_model
from .lighting import Lighting
from .metrics import ppm_u_bound
from .scoring import ANGLE, BACKFACING, EXPOSURE, FOV, GLARE, OCCLUDED
from .visibility import (
    ALL_SEEN,
    CULL_GROW,
    CULL_PAD,
    N_SAMPLES,
    ViewCull,
    front_facing,
    in_fov,
    readable_despite_occlusion,
    sample_ray,
    samples_seen,
    surely_outside,
    view_culled,
    visible_samples,
)

wp.set_module_options({"enable_backward": False})

MAX_SKIPS = wp.constant(16)  # own-parcel triangles a ray may pass through before it counts as blocked
SKIP_EPS = wp.constant(1.0e-4)  # metres: restart a ray this far beyond an ignored hit
KEY_DECODES = wp.constant(4.0)
SKIP_SLACK = wp.constant(1.0e-4)  # relative: float32 rounding of the bound or of the model never decides a skip


@wp.struct
class Verdict:
    """One camera x sample: decodable, the limiting factor, the closeness key and the score."""

    decodable: int
    limiting: int
    key: float
    score: float
    p_read: float  # decodable pairs: theirs; near misses: before occlusion (detail_pass checks it)


@wp.func
def visible_ignoring(cam: Camera, tgt: Target, mesh: wp.uint64, face_group: wp.array(dtype=wp.int32),
                     group: int) -> int:
    """Like ``visible_samples`` (a bit mask), but hits on faces of ``group`` (the sample's own parcel) do not
    block."""
    seen = wp.int32(0)
    for k in range(N_SAMPLES):
        ray = sample_ray(cam, tgt, k)
        max_t = ray[3]
        if max_t <= 0.0:
            seen = seen | (1 << k)
        else:
            d = wp.vec3(ray[0], ray[1], ray[2])
            start = cam.pos
            left = max_t
            clear = wp.int32(0)
            hops = wp.int32(0)
            while hops < MAX_SKIPS:
                q = wp.mesh_query_ray(mesh, start, d, left)
                if not q.result:
                    clear = 1
                    hops = MAX_SKIPS
                elif face_group[q.face] != group:
                    hops = MAX_SKIPS
                else:
                    step = q.t + SKIP_EPS
                    start = start + d * step
                    left = left - step
                    hops += 1
                    if left <= 0.0:
                        clear = 1
                        hops = MAX_SKIPS
            seen = seen | (clear << k)
    return seen


@wp.func
def seen_samples(cam: Camera, tgt: Target, mesh: wp.uint64, face_group: wp.array(dtype=wp.int32),
                 group: int) -> int:
    """Mask of the occlusion samples the camera sees: exactly ``visible_samples`` for samples as authored
    (group < 0)."""
    if group < 0:
        return visible_samples(cam, tgt, mesh)
    return visible_ignoring(cam, tgt, mesh, face_group, group)


@wp.func
def sweep_verdict(cam: Camera, tgt: Target, mesh: wp.uint64, has_mesh: int, face_group: wp.array(dtype=wp.int32),
                  group: int, lit: Lighting) -> Verdict:
    """The pair model with early exits (out of view, facing away: the verdict ``evaluate_pair`` would give, at a
    fraction of the cost) and lazy occlusion: rays only when everything else passes."""
    v = Verdict()
    if surely_outside(cam, tgt):
        v.limiting = FOV
        return v
    if not in_fov(cam, tgt):
        v.limiting = FOV
        return v
    if not front_facing(cam, tgt):
        v.limiting = BACKFACING
        v.key = 1.0
        return v
    r = pair_model(cam, tgt, mesh, 0, lit, group, -1, 1, True, True)  # in view and facing: tested above
    v.limiting = r.limiting
    if r.limiting == 0:
        mask = wp.int32(ALL_SEEN)
        if has_mesh != 0:
            mask = seen_samples(cam, tgt, mesh, face_group, group)
        if readable_despite_occlusion(cam, tgt, mask):
            v.decodable = 1
            v.key = KEY_DECODES
            v.score = r.score
            v.p_read = r.p_read
        else:
            v.limiting = OCCLUDED
            v.key = 2.0 + float(samples_seen(mask)) / float(N_SAMPLES)
    elif r.limiting == FOV:
        v.key = 0.0
    elif r.limiting == BACKFACING:
        v.key = 1.0
    else:
        lights = wp.min(r.margins[GLARE - 1], r.margins[EXPOSURE - 1])
        least = wp.min(wp.min(r.combined_margin, r.margins[ANGLE - 1]), lights)
        v.p_read = r.p_read
        v.key = 3.0 + wp.min(least / cam.read_floor[tgt.cls], 1.0)  # how near the camera's decodable floor
    return v


@wp.func
def cannot_matter(cam: Camera, tgt: Target, settled: bool, floor_key: float) -> bool:
    """True when the camera surely neither reads the sample nor is the closest to reading it, so ``sweep_verdict``
    can be skipped without changing any sum. ``settled``: a camera already reads the sample (only a second reader
    still counts); ``floor_key``: the key a camera must exceed to be the closest (the best so far, fixed cameras
    included; ties are never skipped). Facing away, a camera's key is at most 1. Otherwise its decisive margin is at
    most PPM_u / T (the combined margin's resolution term), bounded here by ``ppm_u_bound``: below the decodable
    floor it cannot read, and its key is at most 3 + bound / floor."""
    if not front_facing(cam, tgt):
        return settled or floor_key > 1.0
    floor = cam.read_floor[tgt.cls]
    bound = ppm_u_bound(cam, tgt) / (cam.thresholds[tgt.cls] * cam.threshold_scale[tgt.sym]) * (1.0 + SKIP_SLACK)
    if not (bound < floor):  # NaN included: evaluate
        return False
    return settled or 3.0 + bound / floor < floor_key


@wp.kernel
def fixed_pass(
    cameras: wp.array(dtype=Camera),
    samples: wp.array(dtype=Target),
    groups: wp.array(dtype=wp.int32),
    face_group: wp.array(dtype=wp.int32),
    mesh: wp.uint64,
    has_mesh: int,
    lit: Lighting,
    offset: int,
    count: wp.array(dtype=wp.int32),
    sole: wp.array(dtype=wp.int32),
    best_key: wp.array(dtype=wp.float32),
    best_limiting: wp.array(dtype=wp.int32),
    views: wp.array(dtype=ViewCull),
):
    """Per sample, the cameras every configuration shares: how many read it (stopping at 2), which one when only
    one does, and the closest camera's key and limiting factor when none does. ``views``: the cameras' view
    pre-test, so a camera that surely misses the sample costs five dot products (its verdict: out of view, key 0)."""
    s = wp.tid() + offset
    tgt = samples[s]
    g = groups[s]
    n = wp.int32(0)
    only = wp.int32(-1)
    key = wp.float32(-1.0)
    lim = wp.int32(0)
    radius = wp.length(tgt.half_size_qz) * CULL_GROW + CULL_PAD
    for c in range(cameras.shape[0]):
        if n < 2:
            if view_culled(views[c], tgt.pos, radius):
                if key < 0.0:  # the key 0 of an out-of-view verdict beats only "no camera yet"
                    key = 0.0
                    lim = FOV
                continue
            v = sweep_verdict(cameras[c], tgt, mesh, has_mesh, face_group, g, lit)
            if v.decodable != 0:
                n += 1
                only = c
            elif v.key > key:
                key = v.key
                lim = v.limiting
    count[s] = n
    sole[s] = only
    best_key[s] = key
    best_limiting[s] = lim


@wp.func
def unseen_factor(fixed_key: float, fixed_limiting: int) -> int:
    """The limiting factor of a sample no fixed camera reads when every varied camera is out of view (key 0,
    the first varied camera wins ties): ``sweep_configs``' rule with best = 0, key = 0, lim = FOV."""
    if 0.0 >= fixed_key:
        return FOV
    return fixed_limiting


@wp.kernel
def bins_in_view(
    views: wp.array2d(dtype=ViewCull),
    centres: wp.array(dtype=wp.vec3),
    radii: wp.array(dtype=wp.float32),
    offset: int,
    seen: wp.array2d(dtype=wp.uint8),
):
    """seen[i, b] = 1 unless every varied camera of configuration offset + i surely misses bin b (a sphere holding
    the pre-test spheres of a run of samples): the per-sample pre-test then rules out each of them too."""
    i0, b = wp.tid()
    i = i0 + offset
    hit = wp.uint8(0)
    for c in range(views.shape[1]):
        if hit == wp.uint8(0):
            if not view_culled(views[i, c], centres[b], radii[b]):
                hit = wp.uint8(1)
    seen[i, b] = hit


@wp.kernel
def sweep_configs(
    cameras: wp.array2d(dtype=Camera),
    views: wp.array2d(dtype=ViewCull),
    samples: wp.array(dtype=Target),
    groups: wp.array(dtype=wp.int32),
    weights: wp.array(dtype=wp.int64),
    face_group: wp.array(dtype=wp.int32),
    mesh: wp.uint64,
    has_mesh: int,
    lit: Lighting,
    fixed_count: wp.array(dtype=wp.int32),
    fixed_sole: wp.array(dtype=wp.int32),
    fixed_key: wp.array(dtype=wp.float32),
    fixed_limiting: wp.array(dtype=wp.int32),
    order: wp.array(dtype=wp.int32),
    sample_bin: wp.array(dtype=wp.int32),
    bin_seen: wp.array2d(dtype=wp.uint8),
    span: int,
    offset: int,
    covered: wp.array(dtype=wp.int64),
    redundant: wp.array(dtype=wp.int64),
    unique: wp.array2d(dtype=wp.int64),
    limiting: wp.array2d(dtype=wp.int64),
):
    """Thread (i, j): configuration offset + i (row of ``cameras``, its varied cameras) against the samples
    ``order[j * span .. (j + 1) * span - 1]`` (``order``: the samples sorted by bin; one sample a thread on a GPU,
    a bin's run on the CPU, where a thread costs more than a sample).

    Accumulates per configuration the weight read by any camera (``covered``), by two or more (``redundant``),
    by exactly one camera (``unique``: varied cameras first, then the fixed ones), and the weight nobody reads by
    the limiting factor of the closest camera (``limiting``, slot code - 1). ``views`` holds the same cameras'
    view pre-test fields: a camera it rules out gets the verdict ``sweep_verdict`` gives there (out of view, key 0)
    without loading the whole camera.

    The sums arrive holding every sample's *unseen* share (``unseen_sums`` on the host: what the sample adds when
    every varied camera is out of view), so a sample adds only its difference from that: nothing at all when the
    fixed cameras read it twice, when ``bin_seen`` (``bins_in_view``) has every varied camera miss its bin, or when
    the varied cameras change nothing."""
    i0, j = wp.tid()
    i = i0 + offset
    first = j * span
    last = wp.min(first + span, order.shape[0])
    b = sample_bin[order[first]]
    if b == sample_bin[order[last - 1]] and bin_seen[i, b] == 0:  # the whole run lies in one unseen bin
        return
    n_var = cameras.shape[1]
    for k in range(first, last):
        s = order[k]
        fc = fixed_count[s]
        if fc >= 2 or bin_seen[i, sample_bin[s]] == 0:
            continue
        w = weights[s]
        tgt = samples[s]
        g = groups[s]
        n = fc
        only = wp.int32(-1)
        key = wp.float32(-1.0)
        best = wp.int32(-1)
        lim = wp.int32(0)
        radius = wp.length(tgt.half_size_qz) * CULL_GROW + CULL_PAD
        for c in range(n_var):
            if n < 2:
                if view_culled(views[i, c], tgt.pos, radius):
                    if key < 0.0:  # the key 0 of an out-of-view verdict beats only "no camera yet"
                        key = 0.0
                        best = c
                        lim = FOV
                    continue
                cam = cameras[i, c]
                if cannot_matter(cam, tgt, n >= 1, wp.max(key, fixed_key[s])):
                    continue
                v = sweep_verdict(cam, tgt, mesh, has_mesh, face_group, g, lit)
                if v.decodable != 0:
                    n += 1
                    only = c
                elif v.key > key:
                    key = v.key
                    best = c
                    lim = v.limiting
        if fc == 1:  # unseen share: covered, unique to the fixed camera; a varied reader makes it redundant
            if n >= 2:
                wp.atomic_add(redundant, i, w)
                wp.atomic_add(unique, i, n_var + fixed_sole[s], -w)
            continue
        unseen = unseen_factor(fixed_key[s], fixed_limiting[s])  # fc == 0: the unseen share is this factor's
        if n >= 1:
            if unseen > 0:
                wp.atomic_add(limiting, i, unseen - 1, -w)
            wp.atomic_add(covered, i, w)
            if n >= 2:
                wp.atomic_add(redundant, i, w)
            else:
                wp.atomic_add(unique, i, only, w)
        else:
            factor = fixed_limiting[s]
            if best >= 0 and key >= fixed_key[s]:  # the varied camera wins ties (it comes first)
                factor = lim
            if factor != unseen:
                if unseen > 0:
                    wp.atomic_add(limiting, i, unseen - 1, -w)
                if factor > 0:
                    wp.atomic_add(limiting, i, factor - 1, w)


@wp.kernel
def detail_pass(
    cameras: wp.array(dtype=Camera),
    samples: wp.array(dtype=Target),
    groups: wp.array(dtype=wp.int32),
    face_group: wp.array(dtype=wp.int32),
    mesh: wp.uint64,
    has_mesh: int,
    lit: Lighting,
    offset: int,
    decodable: wp.array2d(dtype=wp.uint8),
    best_camera: wp.array(dtype=wp.int32),
    best_score: wp.array(dtype=wp.float32),
    best_limiting: wp.array(dtype=wp.int32),
    best_p_read: wp.array(dtype=wp.float32),
):
    """One configuration in full: every camera x sample decodable, and per sample the best camera (highest score
    among those that read it, else the closest) with its score and limiting factor, and the highest one-frame read
    probability of any camera (pairs below their decodable floor cast their occlusion rays here too: a hidden
    near miss reads with probability 0)."""
    s = wp.tid() + offset
    tgt = samples[s]
    g = groups[s]
    n = wp.int32(0)
    top = wp.float32(-1.0)
    key = wp.float32(-1.0)
    best = wp.int32(-1)
    lim = wp.int32(0)
    p_best = wp.float32(0.0)
    for c in range(cameras.shape[0]):
        v = sweep_verdict(cameras[c], tgt, mesh, has_mesh, face_group, g, lit)
        decodable[s, c] = wp.uint8(v.decodable)
        p = v.p_read
        if v.decodable == 0 and p > p_best and has_mesh != 0:
            if not readable_despite_occlusion(cameras[c], tgt, seen_samples(cameras[c], tgt, mesh, face_group, g)):
                p = 0.0
        p_best = wp.max(p_best, p)
        if v.decodable != 0:
            n += 1
            if v.score > top:
                top = v.score
                best = c
        elif n == 0 and v.key > key:
            key = v.key
            best = c
            lim = v.limiting
    if n > 0:
        lim = 0
    else:
        top = 0.0
    best_camera[s] = best
    best_score[s] = top
    best_p_read[s] = p_best
    best_limiting[s] = lim
