"""The persistent Warp world: cameras, targets, station geometry and result arrays on one device.

Built once from a ``Scene``; afterwards only what changed is re-uploaded (one camera or target row, one
part's vertex slice plus a BVH refit) and only the pairs it can affect are recomputed.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Any

import numpy as np
import warp as wp

from swb.kernels.camera import Camera, Light, Target
from swb.kernels.evaluate import PairDetail, PairRecord, detail_kernel, evaluate_kernel
from swb.kernels.lighting import Lighting
from swb.kernels.transform import pairs_near_boxes, transform_points
from swb.kernels.visibility import N_SAMPLES, TargetCull, ViewCull

from ..errors import SwbError
from . import embree_masks
from .devices import resolve_device
from .model import CameraModel, LightModel, MeshPart, Scene, TargetModel
from .pair_results import PairResults
from .profiles import (
    CLASS_CODE,
    FACTORS,
    PROFILES,
    SYMBOLOGIES,
    SYMBOLOGY_CODE,
    DecoderProfile,
    module_aspect,
    read_floor,
)
from .view_cull import target_spheres, view_records

# Below this many pairs a CPU launch is not worth splitting across threads.
MIN_SPLIT_PAIRS = 4096
# Targets per thread of the affected-pairs search: long runs on the CPU (a launch's per-thread cost exceeds a pair's
# box tests), short ones on a GPU (many threads).
NEAR_PER_THREAD_CPU = 1024
NEAR_PER_THREAD_GPU = 8
_BOUNDS_PAD = 1.0e-4  # metres: covers float32 rounding of device vertices and of the segment test


def _check_profile(cam: CameraModel, source: str) -> None:
    if cam.decoder_profile not in PROFILES:
        raise SwbError(
            f"unknown decoder profile {cam.decoder_profile!r}",
            file=source or None,
            prim=cam.path,
            attribute="swb:sensor:decoderProfile",
            hint=f"use one of {', '.join(PROFILES)}",
        )


def _check_symbology(tgt: TargetModel, source: str) -> None:
    if tgt.symbology not in SYMBOLOGIES:
        raise SwbError(
            f"unknown symbology {tgt.symbology!r}",
            file=source or None,
            prim=tgt.path,
            attribute="swb:barcode:symbology",
            hint=f"use one of {', '.join(SYMBOLOGIES)}",
        )


@functools.cache
def _dtype(struct: type) -> np.dtype:
    """The numpy record type of a Warp struct (built once: building it costs milliseconds)."""
    return np.dtype(struct.numpy_dtype())


def pack_cameras(cams: Sequence[CameraModel], source: str = "") -> np.ndarray:
    """Cameras as a numpy structured array of the kernels' ``Camera`` record (vectorised: 10^5 rows in ms)."""
    for cam in cams:
        _check_profile(cam, source)
    out = np.zeros(len(cams), dtype=_dtype(Camera))
    if not cams:
        return out

    def col(fn) -> np.ndarray:
        return np.array([fn(c) for c in cams], dtype=np.float64)

    profiles = [PROFILES[c.decoder_profile] for c in cams]
    out["rot"] = np.array([np.asarray(c.rotation, np.float64) for c in cams]).reshape(-1, 3, 3)
    out["pos"] = np.array([np.asarray(c.position, np.float64) for c in cams]).reshape(-1, 3)
    out["fx"], out["fy"] = col(lambda c: c.fx), col(lambda c: c.fy)
    out["cx"], out["cy"] = col(lambda c: c.cx), col(lambda c: c.cy)
    out["width"], out["height"] = col(lambda c: c.width), col(lambda c: c.height)
    out["focal_length"] = col(lambda c: c.focal_length)
    out["f_number"] = col(lambda c: c.f_number)
    out["focus_distance"] = col(lambda c: c.focus_distance)
    out["autofocus"] = [1 if c.focus_mode == "autofocus" else 0 for c in cams]
    out["focus_near"], out["focus_far"] = col(lambda c: c.focus_range[0]), col(lambda c: c.focus_range[1])
    out["exposure"] = col(lambda c: c.exposure)
    out["clip_near"], out["clip_far"] = col(lambda c: c.clipping[0]), col(lambda c: c.clipping[1])
    out["pitch"] = col(lambda c: math.sqrt(c.pixel_pitch[0] * c.pixel_pitch[1]))
    out["wavelength"] = col(lambda c: c.wavelength)
    out["max_tilt"] = col(lambda c: c.max_tilt_deg)
    out["min_exposure"] = col(lambda c: c.min_exposure)
    out["min_read"] = col(lambda c: c.min_read_probability)
    out["frame_rate"] = col(lambda c: c.frame_rate)
    pack_profiles(out, profiles)
    return out


def pack_profiles(out: np.ndarray, profiles: Sequence[DecoderProfile], index: np.ndarray | None = None) -> None:
    """Write decoder profiles' per-class thresholds, blur limits and traits into ``Camera`` rows: row i gets
    ``profiles[index[i]]`` (``profiles[i]`` without an index). Shared by the world and the sweep's candidates."""
    idx = np.arange(len(profiles)) if index is None else np.asarray(index, dtype=np.int64)

    def table(get) -> np.ndarray:
        return np.array([get(p) for p in profiles], dtype=np.float64).reshape(len(profiles), -1)[idx]

    out["thresholds"] = table(lambda p: p.ppm_threshold)
    out["blur_limits"] = table(lambda p: p.blur_limit)
    out["min_visible"] = table(lambda p: p.min_visible)
    out["scan_cover"] = table(lambda p: p.scan_cover)
    out["scanline"] = table(lambda p: float(p.scanline))[:, 0].astype(np.int32)
    out["clear_row"] = table(lambda p: float(p.clear_row))[:, 0].astype(np.int32)
    out["quiet_zone"] = table(lambda p: p.quiet_zone)
    out["decoder_tilt"] = table(lambda p: p.max_tilt)
    out["line_view"] = table(lambda p: float(p.line_view))[:, 0].astype(np.int32)
    out["threshold_scale"] = table(lambda p: p.scales())
    m90, slope = table(lambda p: p.read_m90), table(lambda p: p.read_slope)
    out["read_ln_m90"], out["read_slope"] = np.log(m90), slope
    # rows keep their camera's minimum read probability (set before, by pack_cameras or a copied base row)
    out["read_floor"] = read_floor(m90, slope, out["min_read"][:, None])


def pack_targets(tgts: Sequence[TargetModel], source: str = "") -> np.ndarray:
    """Targets as a numpy structured array of the kernels' ``Target`` record."""
    for tgt in tgts:
        _check_symbology(tgt, source)
    out = np.zeros(len(tgts), dtype=_dtype(Target))
    if not tgts:
        return out
    out["rot"] = np.array([np.asarray(t.rotation, np.float64) for t in tgts]).reshape(-1, 3, 3)
    out["pos"] = np.array([np.asarray(t.position, np.float64) for t in tgts]).reshape(-1, 3)
    out["half_size"] = 0.5 * np.array([t.size for t in tgts], dtype=np.float64)
    out["half_size_qz"] = 0.5 * np.array([t.size_with_quiet_zone for t in tgts], dtype=np.float64)
    out["module_size"] = [t.module_size for t in tgts]
    out["module_size_w"] = [t.module_size * module_aspect(t.symbology) for t in tgts]
    out["cls"] = [CLASS_CODE[SYMBOLOGIES[t.symbology]] for t in tgts]
    out["sym"] = [SYMBOLOGY_CODE[t.symbology] for t in tgts]
    out["velocity"] = np.array([np.asarray(t.velocity, np.float64) for t in tgts]).reshape(-1, 3)
    out["reflectance"] = [t.reflectance for t in tgts]
    out["print_contrast"] = [t.print_contrast for t in tgts]
    out["glossy"] = [1 if t.glossy else 0 for t in tgts]
    out["gloss_angle"] = [t.gloss_angle_deg for t in tgts]
    return out


def pack_lights(lights: Sequence[LightModel]) -> np.ndarray:
    """Lights as a numpy structured array of the kernels' ``Light`` record; at least one row (count 0: unused)."""
    out = np.zeros(max(len(lights), 1), dtype=np.dtype(Light.numpy_dtype()))
    for k, light in enumerate(lights):
        out[k]["pos"] = np.asarray(light.position, np.float64)
        axis = np.asarray(light.direction, np.float64)
        out[k]["dir"] = axis / np.linalg.norm(axis)
        out[k]["intensity"] = light.intensity
        out[k]["cos_beam"] = -1.0 if light.beam_angle_deg >= 180.0 else math.cos(math.radians(light.beam_angle_deg))
        cut = math.radians(min(light.beam_angle_deg, 180.0))
        out[k]["planar"] = float(light.planar)
        out[k]["focus"] = max(float(light.focus), 0.0)
        out[k]["cut"] = cut
        out[k]["soft_start"] = cut * (1.0 - min(max(float(light.softness), 0.0), 1.0))
        out[k]["pulse"] = light.pulse_width if light.pulsed else 0.0
        out[k]["period"] = light.period
        out[k]["synced"] = 1 if light.synced else 0
    return out


def make_lighting(lights: Sequence[LightModel], device, shadows: bool, face_group: wp.array | None = None) -> Lighting:
    """The kernels' ``Lighting`` argument: the packed lights on ``device``, shadow rays on or off, and the
    face -> group map of sweep samples that ignore their own parcel (None: a one-row map no symbol uses)."""
    lit = Lighting()
    lit.lights = wp.array(pack_lights(lights), dtype=Light, device=device)
    lit.count = len(lights)
    lit.shadows = 1 if shadows else 0
    lit.face_group = face_group if face_group is not None else wp.full(1, -1, dtype=wp.int32, device=device)
    return lit


@dataclasses.dataclass
class PartMove:
    """A move of parts begun by ``World.begin_move``: the old and new boxes, the old parts, the refit running."""

    boxes: list[tuple[np.ndarray, np.ndarray]]
    old: dict[int, MeshPart]
    job: Future | None


_FIELDS = tuple(f.name for f in dataclasses.fields(PairResults))
_DETAIL_FIELDS = ("defocus_px", "motion_px", "margins")


def _field(records: np.ndarray, detail: np.ndarray | None, name: str, where: Any) -> np.ndarray:
    """One ``PairResults`` field at ``where`` from the device records (numpy structured arrays), in its host dtype;
    NaN for a detail field the world does not keep."""
    if name in _DETAIL_FIELDS:
        if detail is None:
            shape = records[where].shape + ((len(FACTORS),) if name == "margins" else ())
            return np.full(shape, np.nan, np.float32)
        return detail[name][where]
    if name == "visible_fraction":
        return records["seen"][where].astype(np.float32) / np.float32(N_SAMPLES)
    if name == "decodable":
        return records["decodable"][where].astype(bool)
    if name == "limiting":
        return records["limiting"][where].astype(np.int32)
    return records[name][where]


class World:
    """Device copy of a scene plus persistent per-pair result arrays (see ``swb.engine.pair_results``)."""

    def __init__(self, scene: Scene, device: str | None = None, threads: int | None = None,
                 embree: bool | None = None, *, detail: bool = True, cull: bool = True,
                 records: bool = True) -> None:
        """``embree``: cast big launches' occlusion rays through Embree on the CPU (None: ``SWB_EMBREE`` or the
        measured default; see swb/engine/embree_masks.py); ignored on a GPU or without embreex. ``detail``: keep
        each pair's blur metrics and margins (``PairDetail``, 44 B a pair) besides its 32-byte record; without
        them ``results`` and ``read_back`` give NaN there. ``cull``: pairs out of view or facing away keep only
        their distance and tilt (False: every metric of every pair, for the validation study). ``records``: False
        keeps no per-pair array at all, for a world that only recomputes the detail of records kept elsewhere
        (``pair_detail``)."""
        self.device = resolve_device(device)
        self.threads = max(1, int(threads if threads is not None else (os.cpu_count() or 1)))
        self.min_split_pairs = MIN_SPLIT_PAIRS
        self.source = scene.source
        self.cameras: list[CameraModel] = list(scene.cameras)
        self.targets: list[TargetModel] = list(scene.targets)
        self.parts: list[MeshPart] = list(scene.parts)
        self.lights: list[LightModel] = list(scene.lights)
        self.stats: dict[str, int] = {"pairs": 0, "rays": 0}
        self._pool: ThreadPoolExecutor | None = None
        self._refit_pool: ThreadPoolExecutor | None = None
        dev = self.device

        # max(n, 1) rows: a scene without cameras or targets still gets valid (unused) arrays.
        cams = pack_cameras(self.cameras, self.source)
        tgts = pack_targets(self.targets, self.source)
        self._cams = wp.array(cams if len(cams) else np.zeros(1, cams.dtype), dtype=Camera, device=dev)
        self._tgts = wp.array(tgts if len(tgts) else np.zeros(1, tgts.dtype), dtype=Target, device=dev)
        self._all_cams = wp.array(np.arange(len(self.cameras), dtype=np.int32), dtype=wp.int32, device=dev)
        # compact copies of the positions for the affected-pairs search (see kernels.transform.pairs_near_boxes)
        self._cam_pos = wp.array(self._cams.numpy()["pos"], dtype=wp.vec3, device=dev)
        self._tgt_pos = wp.array(self._tgts.numpy()["pos"], dtype=wp.vec3, device=dev)
        self._tgt_half = wp.array(self._tgts.numpy()["half_size"], dtype=wp.vec2, device=dev)
        # the pair kernel's view pre-test: per camera its planes, per target its sphere (swb/engine/view_cull.py)
        self._views = wp.array(view_records(self._cams.numpy()), dtype=ViewCull, device=dev)
        self._spheres = wp.array(target_spheres(self._tgts.numpy()), dtype=TargetCull, device=dev)
        self._all_tgts = wp.array(np.arange(len(self.targets), dtype=np.int32), dtype=wp.int32, device=dev)

        self._build_geometry()
        self.lighting = make_lighting(self.lights, dev, self.mesh is not None)

        shape = (len(self.cameras), len(self.targets))
        self.detail = bool(detail)
        self.cull = bool(cull)
        self._records = wp.zeros(shape if records else (1, 1), dtype=PairRecord, device=dev)
        self._detail = wp.zeros(shape if self.detail and records else (1, 1), dtype=PairDetail, device=dev)
        self.version = 0  # bumped by every change of cameras, targets or geometry (what detail depends on)
        self._rays = wp.zeros(self.threads, dtype=wp.int64, device=dev)
        self._near_mask: wp.array | None = None
        self.embree = embree_masks.wanted(embree, dev)
        self._geometry_version = 0
        self._topology_version = 0  # bumped when triangles change: part meshes (part_mesh) are then rebuilt
        self._part_meshes: dict[bytes, tuple[int, int, wp.Mesh]] = {}
        self._host_masks: embree_masks.HostMasks | None = None
        self._no_seen = wp.full((1, 1), -1, dtype=wp.int32, device=dev)
        self._no_flags = wp.zeros((1, 1), dtype=wp.uint8, device=dev)
        # Compile/load before any threaded launch so worker threads never race on module loading.
        wp.load_module("swb.kernels.evaluate", device=dev)

    # ------------------------------------------------------------------ geometry

    def _build_geometry(self) -> None:
        """One world-space wp.Mesh of every part, placed on the device by the same kernel moves use."""
        dev = self.device
        n_points = [len(p.points) for p in self.parts]
        n_tris = [len(p.triangles) for p in self.parts]
        self._point_start = np.concatenate([[0], np.cumsum(n_points)]).astype(np.int64)
        self._tri_start = np.concatenate([[0], np.cumsum(n_tris)]).astype(np.int64)
        self._part_bounds = [self._bounds_of(p) for p in self.parts]
        total_points = int(self._point_start[-1])
        self.face_part = np.repeat(np.arange(len(self.parts), dtype=np.int32), n_tris)
        self.mesh: wp.Mesh | None = None
        self.face_part_device: wp.array | None = None
        self._local = self._points = None
        if total_points == 0:
            return
        local = np.concatenate([np.asarray(p.points, dtype=np.float32).reshape(-1, 3) for p in self.parts])
        vertex_part = np.repeat(np.arange(len(self.parts), dtype=np.int32), n_points)
        self._local = wp.array(local, dtype=wp.vec3, device=dev)
        self._vertex_part = wp.array(vertex_part, dtype=wp.int32, device=dev)
        xforms = np.stack([np.asarray(p.to_world, dtype=np.float32) for p in self.parts])
        self._xforms = wp.array(xforms, dtype=wp.mat44, device=dev)
        self._points = wp.empty(total_points, dtype=wp.vec3, device=dev)
        wp.launch(transform_points, dim=total_points, device=dev,
                  inputs=[self._local, self._vertex_part, self._xforms, 0, self._points])
        if self._tri_start[-1] == 0:
            return  # never build a mesh without triangles: occlusion is skipped instead
        indices = np.concatenate([
            np.asarray(p.triangles, dtype=np.int64).reshape(-1, 3) + self._point_start[k]
            for k, p in enumerate(self.parts)
        ]).astype(np.int32)
        self._indices = wp.array(indices.ravel(), dtype=wp.int32, device=dev)
        self.face_part_device = wp.array(self.face_part, dtype=wp.int32, device=dev)
        self.mesh = wp.Mesh(points=self._points, indices=self._indices)

    @staticmethod
    def _bounds_of(part: MeshPart) -> tuple[np.ndarray, np.ndarray]:
        pts = part.world_points()
        if len(pts) == 0:
            return np.full(3, np.inf), np.full(3, -np.inf)
        return pts.min(axis=0) - _BOUNDS_PAD, pts.max(axis=0) + _BOUNDS_PAD

    def part_bounds(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """World AABB (lo, hi) of part i as currently placed, padded for float32 rounding."""
        return self._part_bounds[i]

    # ------------------------------------------------------------------ updates

    def update_camera(self, i: int, cam: CameraModel) -> None:
        """Rewrite camera row i on the device; call ``evaluate(cameras=[i])`` to refresh its results."""
        self.update_cameras({i: cam})

    def update_target(self, i: int, tgt: TargetModel) -> None:
        """Rewrite target row i on the device; call ``evaluate(targets=[i])`` to refresh its results."""
        self.update_targets({i: tgt})

    def update_cameras(self, cams: dict[int, CameraModel]) -> None:
        """Rewrite several camera rows with one upload (a copy per run of consecutive indices)."""
        if cams:
            idx = sorted(cams)
            rows = pack_cameras([cams[i] for i in idx], self.source)
            self._scatter(self._cams, Camera, idx, rows)
            self._scatter(self._cam_pos, wp.vec3, idx, rows["pos"])
            self._scatter(self._views, ViewCull, idx, view_records(rows))
            self.version += 1
            for i in idx:
                self.cameras[i] = cams[i]

    def update_targets(self, tgts: dict[int, TargetModel]) -> None:
        """Rewrite several target rows with one upload (the labels on a moved parcel are usually consecutive)."""
        if tgts:
            idx = sorted(tgts)
            rows = pack_targets([tgts[i] for i in idx], self.source)
            self._scatter(self._tgts, Target, idx, rows)
            self._scatter(self._tgt_pos, wp.vec3, idx, rows["pos"])
            self._scatter(self._tgt_half, wp.vec2, idx, rows["half_size"])
            self._scatter(self._spheres, TargetCull, idx, target_spheres(rows))
            self.version += 1
            for i in idx:
                self.targets[i] = tgts[i]

    def _scatter(self, dest: wp.array, dtype: type, idx: list[int], rows: np.ndarray) -> None:
        src = wp.array(np.ascontiguousarray(rows), dtype=dtype, device=self.device)
        start = 0
        for k in range(1, len(idx) + 1):
            if k == len(idx) or idx[k] != idx[k - 1] + 1:
                wp.copy(dest, src, dest_offset=idx[start], src_offset=start, count=k - start)
                start = k

    def update_part(self, i: int, part: MeshPart) -> None:
        """Move part i (see ``update_parts``)."""
        self.update_parts({i: part})

    def update_parts(self, parts: dict[int, MeshPart]) -> None:
        """Move parts: re-place each one's vertex slice from its local points with its new transform, then refit the
        BVH once (moving a conveyor of N parcels is N small launches and one refit, never N refits).

        Raises ValueError when a point or triangle count changed: the caller rebuilds the World then.
        Same counts with other triangles re-index the slice and rebuild the BVH once (rare; a move only refits).
        """
        rebuild = self._place_parts(parts)
        if parts:
            self._finish_geometry(rebuild)

    def move_parts(self, parts: dict[int, MeshPart]) -> tuple[np.ndarray, np.ndarray]:
        """``pairs_affected_by_moves`` then ``update_parts``, with the BVH refit on a worker thread while the pair
        search runs; returns the affected pairs (cam_idx, tgt_idx)."""
        return self.finish_move(self.begin_move(parts))

    def begin_move(self, parts: dict[int, MeshPart]) -> PartMove:
        """Place moved parts and, on the CPU, start the BVH refit on a worker thread (it releases the GIL: the caller
        can read and upload other changes meanwhile; on a GPU the refit is queued like any launch). Then
        ``finish_move`` (or ``cancel_move`` to put the parts back)."""
        boxes = [b for i, part in parts.items() for b in (self.part_bounds(i), self._bounds_of(part))]
        old = {i: self.parts[i] for i in parts}
        rebuild = self._place_parts(parts)
        job = None
        if self.mesh is not None and parts and not self.device.is_cpu:
            self._finish_geometry(rebuild)  # a GPU refit is queued like any launch: nothing to overlap by hand
        elif self.mesh is not None and parts:
            if self._refit_pool is None:
                self._refit_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="swb-refit")
            job = self._refit_pool.submit(self._finish_geometry, rebuild)
        return PartMove(boxes=boxes, old=old, job=job)

    def finish_move(self, move: PartMove) -> tuple[np.ndarray, np.ndarray]:
        """The pairs whose occlusion the move can change (searched while the refit runs: the search reads camera
        and target rows and the boxes, never the BVH), once the BVH is refitted."""
        try:
            # while the refit holds one core, the search takes the others
            busy = 1 if move.job is not None and not move.job.done() else 0
            return self._pairs_near_boxes(move.boxes, threads=max(1, self.threads - busy))
        finally:
            if move.job is not None:
                move.job.result()

    def cancel_move(self, move: PartMove) -> None:
        """Put the parts of a begun move back where they were (an edit read alongside it failed)."""
        if move.job is not None:
            move.job.result()
        self._finish_geometry(self._place_parts(move.old))

    def _place_parts(self, parts: dict[int, MeshPart]) -> bool:
        """Place the parts' vertex slices (and triangles, when they changed); True when the BVH must be rebuilt."""
        for i, part in parts.items():
            old = self.parts[i]
            if len(part.points) != len(old.points) or len(part.triangles) != len(old.triangles):
                counts = f"{len(old.points)}/{len(old.triangles)} -> {len(part.points)}/{len(part.triangles)}"
                raise ValueError(f"part {part.path}: point/triangle count changed ({counts}); rebuild the World")
        dev = self.device
        rebuild = False
        self.version += 1
        for i, part in parts.items():
            old = self.parts[i]
            self.parts[i] = part
            self._part_bounds[i] = self._bounds_of(part)
            start, count = int(self._point_start[i]), len(part.points)
            if count == 0:
                continue
            if part.points is not old.points and not np.array_equal(np.asarray(part.points), np.asarray(old.points)):
                local = np.asarray(part.points, dtype=np.float32).reshape(-1, 3)
                wp.copy(self._local, wp.array(local, dtype=wp.vec3, device=dev), dest_offset=start, count=count)
            xform = wp.array(np.asarray(part.to_world, dtype=np.float32)[None], dtype=wp.mat44, device=dev)
            wp.copy(self._xforms, xform, dest_offset=i, count=1)
            wp.launch(transform_points, dim=count, device=dev,
                      inputs=[self._local, self._vertex_part, self._xforms, start, self._points])
            if (self.mesh is not None and part.triangles is not old.triangles
                    and not np.array_equal(np.asarray(part.triangles), np.asarray(old.triangles))):
                tris = (np.asarray(part.triangles, dtype=np.int64).reshape(-1, 3) + start).astype(np.int32).ravel()
                wp.copy(self._indices, wp.array(tris, dtype=wp.int32, device=dev),
                        dest_offset=3 * int(self._tri_start[i]), count=len(tris))
                rebuild = True
        return rebuild and bool(parts)

    def _finish_geometry(self, rebuild: bool) -> None:
        """Refit the BVH to the placed vertices (or rebuild it when triangles changed)."""
        if self.mesh is None:
            return
        self._geometry_version += 1  # host (Embree) masks are cast against a copy of the vertices
        if rebuild:
            wp.synchronize_device(self.device)  # no launch may still use the old BVH when it is freed
            self._topology_version += 1
            self.mesh = wp.Mesh(points=self._points, indices=self._indices)
        else:
            self.mesh.refit()

    def pairs_affected_by_move(self, i: int, new_part: MeshPart) -> tuple[np.ndarray, np.ndarray]:
        """Pairs whose occlusion can change when part i goes from where it is now to ``new_part``'s placement.

        Call before ``update_part(i, new_part)``.
        """
        return self.pairs_affected_by_moves({i: new_part})

    def pairs_affected_by_moves(self, parts: dict[int, MeshPart]) -> tuple[np.ndarray, np.ndarray]:
        """Pairs whose occlusion can change when these parts go to their new placements: one kernel over all pairs
        against every old and new box. Call before ``update_parts``."""
        boxes = [b for i, part in parts.items() for b in (self.part_bounds(i), self._bounds_of(part))]
        return self._pairs_near_boxes(boxes)

    def pairs_near_part(
        self,
        i: int,
        old_bounds: tuple[np.ndarray, np.ndarray],
        new_bounds: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(cam_idx, tgt_idx) of the pairs whose occlusion can change when part i moved between two boxes;
        ``new_bounds`` defaults to the part's current bounds."""
        return self._pairs_near_boxes([old_bounds, new_bounds if new_bounds is not None else self.part_bounds(i)])

    def _pairs_near_boxes(self, bounds: list[tuple[np.ndarray, np.ndarray]],
                          threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Pairs that cast occlusion rays (in view and front-facing, judged from the current camera and target
        rows) and whose ray fan, or a shadow ray from a light to the target, can meet one of the world AABBs.
        Runs as one kernel over all pairs."""
        n_cam, n_tgt = len(self.cameras), len(self.targets)
        if n_cam == 0 or n_tgt == 0 or not bounds:
            return np.zeros(0, np.int32), np.zeros(0, np.int32)
        boxes = np.array([corner for box in bounds for corner in box], dtype=np.float64).reshape(-1, 3)
        boxes = np.clip(boxes, -3.0e38, 3.0e38).astype(np.float32)  # empty boxes keep lo > hi in float32
        if self._near_mask is None or self._near_mask.shape != (n_cam, n_tgt):
            self._near_mask = wp.empty((n_cam, n_tgt), dtype=wp.uint8, device=self.device)
        mask = self._near_mask
        box_arr = wp.array(boxes, dtype=wp.vec3, device=self.device)
        n_lights = self.lighting.count if self.lighting.shadows else 0

        per = NEAR_PER_THREAD_CPU if self.device.is_cpu else NEAR_PER_THREAD_GPU
        max_radius = float(np.sqrt(np.max(np.sum(self._tgt_half.numpy().astype(np.float64) ** 2, axis=1))))
        chunks = (n_tgt + per - 1) // per

        def launch(a: int, b: int) -> None:
            wp.launch(pairs_near_boxes, dim=(b - a, chunks), device=self.device,
                      inputs=[self._cams[a:b], self._tgts, self._cam_pos[a:b], self._tgt_pos, self._tgt_half,
                              max_radius, box_arr, self.lighting.lights, n_lights, per, mask[a:b]])

        self._split(n_cam, n_tgt, launch, threads)
        cam_idx, tgt_idx = np.nonzero(mask.numpy())
        return cam_idx.astype(np.int32), tgt_idx.astype(np.int32)

    @property
    def camera_records(self) -> wp.array:
        """The device ``Camera`` records (kept current by the updates), for kernels beyond the pair kernel."""
        return self._cams

    @property
    def target_records(self) -> wp.array:
        return self._tgts

    def part_mesh(self, keep: np.ndarray) -> wp.Mesh | None:
        """A BVH over the parts ``keep`` marks, sharing this world's device points (only the triangle indices are
        new); None when they hold no triangle. For geometry that moves apart from the rest (conveyor transits).
        Kept between calls: after parts moved it is refitted like the world's own BVH, not rebuilt."""
        if self.mesh is None:
            return None
        keep = np.asarray(keep, bool)
        key = keep.tobytes()
        cached = self._part_meshes.get(key)
        if cached is not None and cached[1] == self._topology_version:
            version, _, mesh = cached
            if version != self._geometry_version:
                mesh.refit()
                self._part_meshes[key] = (self._geometry_version, self._topology_version, mesh)
            return mesh
        faces = keep[self.face_part]
        if not faces.any():
            return None
        indices = self._indices.numpy().reshape(-1, 3)[faces]
        mesh = wp.Mesh(points=self._points, indices=wp.array(indices.ravel(), dtype=wp.int32, device=self.device))
        if len(self._part_meshes) >= 4:  # a transit needs two (static, moving); other masks replace them
            self._part_meshes.clear()
        self._part_meshes[key] = (self._geometry_version, self._topology_version, mesh)
        return mesh

    def split(self, n: int, work_per_item: int, launch) -> None:  # noqa: ANN001
        """Run launch(a, b) over slices of range(n), across the worker threads on the CPU (see ``_split``)."""
        self._split(n, work_per_item, launch)

    def _split(self, n: int, work_per_item: int, launch, threads: int | None = None) -> None:  # noqa: ANN001
        """Run launch(a, b) over slices of range(n); on the CPU a big job is split across the worker threads."""
        threads = self.threads if threads is None else threads
        pieces = min(threads, n) if self.device.is_cpu and n * work_per_item >= self.min_split_pairs else 1
        if pieces <= 1:
            launch(0, n)
            return
        bounds = np.linspace(0, n, pieces + 1).astype(int)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="swb-eval")
        for fut in [self._pool.submit(launch, int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]:
            fut.result()

    def run_slices(self, bounds: Sequence[int], launch, done=None) -> None:  # noqa: ANN001
        """Run launch(a, b) for each slice [bounds[k], bounds[k + 1]): on the CPU across the worker threads (more
        slices than threads balance uneven work), elsewhere one after another; ``done(a, b)`` after each, in this
        thread (progress)."""
        slices = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
        if not self.device.is_cpu or self.threads <= 1 or len(slices) <= 1:
            for a, b in slices:
                launch(a, b)
                if done is not None:
                    done(a, b)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="swb-eval")
        futures = {self._pool.submit(launch, a, b): (a, b) for a, b in slices}
        try:
            for fut in as_completed(futures):
                fut.result()
                if done is not None:
                    done(*futures[fut])
        except BaseException:  # an error or Ctrl-C: slices not started yet are dropped
            for fut in futures:
                fut.cancel()
            raise

    def move_part(self, i: int, part: MeshPart) -> tuple[np.ndarray, np.ndarray]:
        """``update_part`` then re-evaluate only the affected pairs; returns them as (cam_idx, tgt_idx)."""
        cam_idx, tgt_idx = self.pairs_affected_by_move(i, part)
        self.update_part(i, part)
        self.evaluate_pairs(cam_idx, tgt_idx)
        return cam_idx, tgt_idx

    # ------------------------------------------------------------------ evaluation

    def _index(self, idx: Sequence[int] | np.ndarray | None, n: int, all_idx: wp.array) -> wp.array:
        if idx is None:
            return all_idx
        arr = np.asarray(idx, dtype=np.int64).ravel()
        if arr.size and (arr.min() < 0 or arr.max() >= n):
            raise IndexError(f"index out of range 0..{n - 1}: {arr.min()}..{arr.max()}")
        return wp.array(arr.astype(np.int32), dtype=wp.int32, device=self.device)

    def evaluate(self, cameras: Sequence[int] | None = None, targets: Sequence[int] | None = None) -> None:
        """Compute every pair of the given cameras x targets (None: all) into the persistent result arrays."""
        cam_idx = self._index(cameras, len(self.cameras), self._all_cams)
        tgt_idx = self._index(targets, len(self.targets), self._all_tgts)
        self._launch(cam_idx, tgt_idx, sparse=False)

    def evaluate_pairs(self, cam_idx: Sequence[int] | np.ndarray, tgt_idx: Sequence[int] | np.ndarray) -> None:
        """Compute a sparse list of pairs (cam_idx[k], tgt_idx[k]) with one 1-D launch."""
        if len(cam_idx) != len(tgt_idx):
            raise ValueError(f"cam_idx and tgt_idx differ in length: {len(cam_idx)} != {len(tgt_idx)}")
        c = self._index(cam_idx, len(self.cameras), self._all_cams)
        t = self._index(tgt_idx, len(self.targets), self._all_tgts)
        self._launch(c, t, sparse=True)

    def _check_pairs(self) -> None:
        """A world without per-pair arrays (``records=False``, ``release_pairs``) only computes detail."""
        if self._records.shape != (len(self.cameras), len(self.targets)) and self.cameras and self.targets:
            raise RuntimeError("this world keeps no per-pair results (records=False or release_pairs): it only "
                               "recomputes detail (pair_detail)")

    def _launch(self, cam_idx: wp.array, tgt_idx: wp.array, sparse: bool) -> None:
        self._check_pairs()
        n_i = cam_idx.shape[0]
        n_j = 1 if sparse else tgt_idx.shape[0]
        pairs = n_i * n_j
        self._rays.zero_()
        if pairs == 0:
            self.stats = {"pairs": 0, "rays": 0}
            return
        masks = self._masks_for(pairs)
        if masks is None:
            self._run(cam_idx, tgt_idx, sparse)
        else:
            # Embree: one pass finishes every pair that casts no ray and flags the others (the kernel's own test);
            # Embree casts the flagged pairs' rays, and a sparse pass evaluates them with those masks.
            flags = wp.zeros((n_i, n_j), dtype=wp.uint8, device=self.device)
            self._run(cam_idx, tgt_idx, sparse, flags=flags)
            ii, jj = np.nonzero(flags.numpy())
            del flags
            if len(ii):
                ci = cam_idx.numpy()[ii].astype(np.int32)
                ti = tgt_idx.numpy()[ii if sparse else jj].astype(np.int32)
                seen = masks.cast(self._points, self._indices, self._geometry_version, self._cams, self._tgts, ci, ti,
                                  self._split)
                self._run(wp.array(ci, dtype=wp.int32, device=self.device),
                          wp.array(ti, dtype=wp.int32, device=self.device), True, seen=seen)
        self.stats = {"pairs": int(pairs), "rays": int(self._rays.numpy().sum())}

    def _run(self, cam_idx: wp.array, tgt_idx: wp.array, sparse: bool, *, seen: wp.array | None = None,
             flags: wp.array | None = None) -> None:
        """One ``evaluate_kernel`` launch, split across the CPU worker threads when big (along the longer index;
        sparse: the pair list, sliced in both arrays alike). ``seen``: host-cast masks shaped like the launch;
        ``flags``: defer the pairs that cast rays, marking them there."""
        n_i = cam_idx.shape[0]
        n_j = 1 if sparse else tgt_idx.shape[0]
        mesh_id = self.mesh.id if self.mesh is not None else wp.uint64(0)
        has_mesh = 1 if self.mesh is not None else 0
        use_seen = 0 if seen is None else 1
        seen = self._no_seen if seen is None else seen
        defer = 0 if flags is None else 1
        flags = self._no_flags if flags is None else flags

        def run(ci: wp.array, ti: wp.array, piece_seen: wp.array, piece_flags: wp.array, slot: int) -> None:
            dim = (ci.shape[0], 1 if sparse else ti.shape[0])
            wp.launch(evaluate_kernel, dim=dim, device=self.device,
                      inputs=[self._cams, self._tgts, mesh_id, has_mesh, self.lighting, ci, ti, int(sparse),
                              self._records, self._detail, int(self.detail), int(self.cull), self._rays, slot,
                              piece_seen, use_seen, self._views, self._spheres, defer, piece_flags])

        pieces = self.threads if self.device.is_cpu and n_i * n_j >= self.min_split_pairs else 1
        split_cams = sparse or n_i >= n_j
        n_split = n_i if split_cams else n_j
        pieces = min(pieces, n_split)
        if pieces <= 1:
            run(cam_idx, tgt_idx, seen, flags, 0)
            return
        bounds = np.linspace(0, n_split, pieces + 1).astype(int)
        jobs = []
        for k in range(pieces):
            a, b = int(bounds[k]), int(bounds[k + 1])
            if split_cams:
                ci, ti = cam_idx[a:b], (tgt_idx[a:b] if sparse else tgt_idx)
                rows = np.s_[a:b]
            else:
                ci, ti = cam_idx, tgt_idx[a:b]
                rows = np.s_[:, a:b]
            jobs.append((ci, ti, seen[rows] if use_seen else seen, flags[rows] if defer else flags, k))
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="swb-eval")
        for fut in [self._pool.submit(run, *job) for job in jobs]:
            fut.result()

    def host_rays(self) -> tuple[int, float]:
        """Occlusion rays cast on the host through Embree since the World was built, and their wall seconds (ray
        time for an honest ray rate; (0, 0.0) where every ray went through Warp's BVH)."""
        return self._host_masks.host_rays() if self._host_masks is not None else (0, 0.0)

    def _masks_for(self, pairs: int) -> embree_masks.HostMasks | None:
        """The host masks when this launch's occlusion rays go through Embree, else None (Warp's BVH)."""
        if not self.embree or self.mesh is None:
            return None
        if self._host_masks is None:
            if pairs < embree_masks.MIN_PAIRS:
                return None
            self._host_masks = embree_masks.HostMasks(self.device, self.threads)
        return self._host_masks if self._host_masks.ready(self._geometry_version, pairs) else None

    # ------------------------------------------------------------------ read back

    def read_back(self, into: PairResults, cameras: Sequence[int] | None = None, targets: Sequence[int] | None = None,
                  pairs: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Copy what an update recomputed into host arrays of the same shape: whole rows (``cameras``), whole
        columns (``targets``) and single pairs (``pairs`` = (cam_idx, tgt_idx)). On the CPU the device arrays are
        host memory and only those entries are copied; from a GPU the arrays come back whole (one transfer each,
        cheaper than a gather) and only those entries are taken."""
        if into.shape != (len(self.cameras), len(self.targets)):
            raise ValueError(f"host results of shape {into.shape}, world of {(len(self.cameras), len(self.targets))}")
        self._check_pairs()
        rows = None if cameras is None else np.asarray(cameras, np.int64)
        cols = None if targets is None else np.asarray(targets, np.int64)
        records = self._records.numpy()
        detail = self._detail.numpy() if self.detail else None
        for name in _FIELDS:
            dst = getattr(into, name)
            if rows is not None and rows.size:
                dst[rows] = _field(records, detail, name, np.s_[rows])
            if cols is not None and cols.size:
                dst[:, cols] = _field(records, detail, name, np.s_[:, cols])
            if pairs is not None and len(pairs[0]):
                dst[pairs[0], pairs[1]] = _field(records, detail, name, (pairs[0], pairs[1]))

    def decodable_rows(self, cameras: Sequence[int]) -> np.ndarray:
        """The decodable bits of these camera rows, (len(cameras), n_targets) bool: all a coverage count needs, so
        a loop over configurations reads back one record per pair of the rows it changed and nothing else."""
        rows = np.asarray(cameras, np.int64).ravel()
        rec = self._records
        if self.device.is_cpu:
            return rec.numpy()["decodable"][rows].astype(bool)
        out = np.empty((len(rows), len(self.targets)), dtype=bool)
        for k, r in enumerate(rows):  # one contiguous row each: only these rows cross the bus
            out[k] = rec[int(r)].numpy()["decodable"].astype(bool)
        return out

    def results(self) -> PairResults:
        """Numpy copies of every result array."""
        self._check_pairs()
        records = self._records.numpy()
        detail = self._detail.numpy() if self.detail else None
        return PairResults(**{name: np.ascontiguousarray(_field(records, detail, name, ...)) for name in _FIELDS})

    def records(self) -> np.ndarray:
        """A numpy copy of every pair's 32-byte record ((cameras, targets), the ``PairRecord`` dtype)."""
        self._check_pairs()
        return self._records.numpy().copy()

    def read_back_records(self, into: np.ndarray, cameras: Sequence[int] | None = None,
                          targets: Sequence[int] | None = None,
                          pairs: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """``read_back`` into a host copy of the records (one structured copy per row, column or pair list)."""
        if into.shape != (len(self.cameras), len(self.targets)):
            raise ValueError(f"host records of shape {into.shape}, world of {(len(self.cameras), len(self.targets))}")
        self._check_pairs()
        raw = np.dtype((np.void, into.dtype.itemsize))  # whole records as bytes: a copy, no per-field casting
        records, into = self._records.numpy().view(raw), into.view(raw)
        if cameras is not None and len(cameras):
            rows = np.asarray(cameras, np.int64)
            into[rows] = records[rows]
        if targets is not None and len(targets):
            cols = np.asarray(targets, np.int64)
            into[:, cols] = records[:, cols]
        if pairs is not None and len(pairs[0]):
            into[pairs[0], pairs[1]] = records[pairs[0], pairs[1]]

    def pair_detail(self, cam_idx: np.ndarray, tgt_idx: np.ndarray, seen: np.ndarray,
                    sparse: bool = False) -> np.ndarray:
        """The ``PairDetail`` of pairs whose records are kept elsewhere, recomputed by the pair model itself
        (``kernels.evaluate.detail_kernel``) from the current cameras, targets and geometry: what a detail world
        keeps, for only the pairs asked. Grid: cam_idx x tgt_idx, ``seen`` (len(cam_idx), len(tgt_idx)); sparse:
        the pairs (cam_idx[k], tgt_idx[k]), ``seen`` (n,). ``seen`` is each pair's record field (its occlusion:
        no ray is cast again). Returns a numpy ``PairDetail`` array shaped like ``seen``."""
        ci = np.ascontiguousarray(cam_idx, np.int32).ravel()
        ti = np.ascontiguousarray(tgt_idx, np.int32).ravel()
        n_i, n_j = (len(ci), 1) if sparse else (len(ci), len(ti))
        shape = np.shape(seen)
        if n_i * n_j == 0:
            return np.zeros(shape, _dtype(PairDetail))
        dev = self.device
        seen2 = wp.array(np.ascontiguousarray(seen, np.int32).reshape(n_i, n_j), dtype=wp.int32, device=dev)
        out = wp.empty((n_i, n_j), dtype=PairDetail, device=dev)
        c_all = wp.array(ci, dtype=wp.int32, device=dev)
        t_all = wp.array(ti, dtype=wp.int32, device=dev)
        mesh_id = self.mesh.id if self.mesh is not None else wp.uint64(0)
        # the occlusion is the record's (a mesh-less world's records saw every sample), so the mesh serves only
        # shadow rays, which a world whose lights cast none never traces (release_pairs may have freed it)
        has_mesh = 1
        split_cams = sparse or n_i >= n_j

        def launch(a: int, b: int) -> None:
            if split_cams:
                c, t, s, o = c_all[a:b], (t_all[a:b] if sparse else t_all), seen2[a:b], out[a:b]
            else:
                c, t, s, o = c_all, t_all[a:b], seen2[:, a:b], out[:, a:b]
            wp.launch(detail_kernel, dim=(c.shape[0], 1 if sparse else t.shape[0]), device=dev,
                      inputs=[self._cams, self._tgts, mesh_id, has_mesh, self.lighting, c, t, int(sparse), s,
                              int(self.cull), o])

        self._split(n_i if split_cams else n_j, n_j if split_cams else n_i, launch)
        return out.numpy().reshape(shape)

    def release_pairs(self) -> None:
        """Free the per-pair arrays (records, detail, host masks, the affected-pairs mask), and the geometry unless
        lights cast shadows through it: the world then only recomputes detail (``pair_detail``) for records kept
        elsewhere."""
        self._records = wp.zeros((1, 1), dtype=PairRecord, device=self.device)
        self._detail = wp.zeros((1, 1), dtype=PairDetail, device=self.device)
        self._near_mask = None
        if self._host_masks is not None:
            self._host_masks.close()
            self._host_masks = None
        self.embree = False
        if not (self.lighting.count and self.lighting.shadows):
            self.mesh = self.face_part_device = self._local = self._points = None
            self._indices = self._vertex_part = self._xforms = None
            self._part_meshes.clear()

    def pair_bytes(self) -> int:
        """Device bytes each pair keeps (its record, and its detail when kept)."""
        record = np.dtype(PairRecord.numpy_dtype()).itemsize  # from the type: no copy off the device
        return record + (np.dtype(PairDetail.numpy_dtype()).itemsize if self.detail else 0)

    def close(self) -> None:
        """Stop the CPU worker threads (the device buffers go with the object)."""
        if self._host_masks is not None:
            self._host_masks.close()
            self._host_masks = None
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        if self._refit_pool is not None:
            self._refit_pool.shutdown()
            self._refit_pool = None
