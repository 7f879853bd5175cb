"""Pictures of decodability: sphere, plane, projection and view modes on a Simulation.

Each mode evaluates probe symbols (``swb.viz.probes``) against packed cameras with the simulation's own Warp
mesh (nothing is re-uploaded), returns a result object with the arrays, and, given ``out_dir``, writes a PNG and
a USD overlay (``swb.viz.output``). With ``record=True`` the mode and every parameter go into the UI state, so a
saved simulation can ``regenerate`` the same picture after ``swb restore``.

Points, directions and lengths are given in the stage's own units and axes (as a USD viewer shows them);
the probe symbol's module size is in metres. Result arrays are in SWB's world frame (metres, Z up).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import warp as wp

from swb.kernels.camera import Camera, Target
from swb.kernels.raycast import Label, Shading, render_view_kernel
from swb.kernels.viz import ProbeOutputs, pixel_rays_kernel, probe_kernel

from ..engine.model import CameraModel
from ..engine.world import MIN_SPLIT_PAIRS, World, pack_cameras
from ..errors import SwbError, SwbWarning
from ..simulation import Simulation
from ..stage.units import stage_to_world
from . import output as out
from .probes import (
    ProbeSymbol,
    orientation_grid,
    pack_probes,
    plane_grid,
    surface_frames,
    symbol_frames,
    unit,
)
from .results import PlaneResult, ProbeEval, ProjectionResult, SphereResult, ViewResult, VizResult

MODES = ("sphere", "plane", "projection", "view")
VIEW_COLOURS = ("status", "score", "p_read", "limiting", "ppm")  # what a view picture's targets can be coloured by
REDUCTIONS = ("mean", "min", "max")
SURFACE_OFFSET = 1.0e-3  # metres: projection probes float this far off the surface they lie on


# ------------------------------------------------------------------------------------------- helpers


class _Frame:
    """Stage units and axes -> SWB world (metres, Z up)."""

    def __init__(self, sim: Simulation) -> None:
        self.mpu = float(sim.scene.meters_per_unit)
        self.to_world = stage_to_world(self.mpu, sim.scene.up_axis)[:3, :3]

    def point(self, p: Sequence[float], what: str) -> np.ndarray:
        return self.to_world @ _vector(p, what)

    def direction(self, d: Sequence[float], what: str) -> np.ndarray:
        return unit(self.to_world @ _vector(d, what), what)

    def length(self, x: float, what: str) -> float:
        x = float(x)
        if not (math.isfinite(x) and x > 0.0):
            raise SwbError(f"the {what} must be a positive length, got {x!r}", attribute=what)
        return x * self.mpu


def _vector(p: Sequence[float], what: str) -> np.ndarray:
    try:
        v = np.asarray([float(x) for x in p], dtype=np.float64)
    except (TypeError, ValueError):
        raise SwbError(f"the {what} must be three numbers, got {p!r}", attribute=what) from None
    if v.shape != (3,) or not np.all(np.isfinite(v)):
        raise SwbError(f"the {what} must be three finite numbers, got {list(p)}", attribute=what)
    return v


def _pair(values: Sequence[Any], what: str, kind: type) -> list[Any]:
    try:
        vals = [kind(v) for v in values]
    except (TypeError, ValueError):
        raise SwbError(f"the {what} must be two numbers, got {values!r}", attribute=what) from None
    if len(vals) != 2:
        raise SwbError(f"the {what} must be two numbers, got {list(values)}", attribute=what)
    return vals


def _choice(value: str, allowed: Sequence[str], what: str) -> str:
    if value not in allowed:
        raise SwbError(f"unknown {what} {value!r}", attribute=what, hint=f"use one of {', '.join(allowed)}")
    return value


def _symbol(symbol: ProbeSymbol | dict | None) -> ProbeSymbol:
    if symbol is None:
        return ProbeSymbol()
    if isinstance(symbol, dict):
        return ProbeSymbol.from_json(symbol)
    symbol.validate()
    return symbol


def _camera_indices(sim: Simulation, cameras: Sequence[str] | None) -> list[int]:
    if not sim.scene.cameras:
        raise SwbError("the scene has no sensor cameras", file=str(sim.scene_path),
                       hint="apply SwbSensorAPI to a UsdGeom.Camera")
    if cameras is None:
        return list(range(len(sim.scene.cameras)))
    idx = []
    for path in cameras:
        try:
            idx.append(sim.scene.camera_index(path))
        except KeyError:
            known = ", ".join(c.path for c in sim.scene.cameras)
            raise SwbError("is not a sensor camera of the scene", file=str(sim.scene_path), prim=path,
                           hint=f"use one of {known}") from None
    if not idx:
        raise SwbError("no camera selected", hint="name at least one camera or leave the selection out")
    return idx


def _start(sim: Simulation, mode: str, name: str | None, label: str | None) -> tuple[str, str]:
    """The picture's file name stem and the scene label its title shows; both are recorded."""
    name = name or f"{sim.scene_path.stem}.{mode}"
    if "/" in name or "\\" in name or name.startswith("."):
        raise SwbError(f"the picture name {name!r} must be a plain file name stem", attribute="name")
    return name, label or sim.scene_path.name


def _finish(sim: Simulation, res: VizResult, out_dir: str | Path | None, record: bool,
            write: Callable[[out.SceneInfo, Path], None]) -> None:
    if out_dir is not None:
        write(out.scene_info(sim, res.parameters["scene"]), Path(out_dir))
    if record:
        sim.set_ui(visualisation_mode=res.mode, viz_parameters=res.parameters)
    why = res.nothing_decodes()
    if why is not None:  # an all-grey picture says why here too (the CLI prints it as one line)
        warnings.warn(SwbWarning(f"{res.mode} picture: {why}"), stacklevel=3)


def _current_world(sim: Simulation) -> World:
    """The simulation's Warp world with every pending edit applied (incremental after the first time)."""
    sim.evaluate()
    return sim.world


def _split_launch(world: World, n: int, work_per_item: int, launch: Callable[[int, int], None]) -> None:
    """Run launch(a, b) over slices of range(n); on the CPU big jobs are split across the world's threads
    (Warp releases the GIL during a launch). Slices write disjoint outputs, so results do not depend on it."""
    pieces = 1
    if world.device.is_cpu and n * work_per_item >= MIN_SPLIT_PAIRS:
        pieces = min(world.threads, n)
    if pieces <= 1:
        launch(0, n)
        return
    bounds = np.linspace(0, n, pieces + 1).astype(int)
    with ThreadPoolExecutor(max_workers=pieces, thread_name_prefix="swb-viz") as pool:
        for fut in [pool.submit(launch, int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]:
            fut.result()


def evaluate_probes(sim: Simulation, probes: np.ndarray, cameras: Sequence[int]) -> ProbeEval:
    """Every selected camera (scene indices) against every probe (Target records), with the simulation's mesh,
    as one grid launch (n_cameras, n_probes)."""
    world = _current_world(sim)
    dev = world.device
    cams = pack_cameras([world.cameras[i] for i in cameras], world.source)
    shape = (len(cams), len(probes))
    if 0 in shape:
        z = np.zeros(shape, np.float32)
        return ProbeEval(np.zeros(shape, bool), np.zeros(shape, np.int32), z, z.copy(), z.copy())
    o = ProbeOutputs()
    o.decodable = wp.zeros(shape, dtype=wp.uint8, device=dev)
    o.limiting = wp.zeros(shape, dtype=wp.int32, device=dev)
    o.score = wp.zeros(shape, dtype=wp.float32, device=dev)
    o.ppm = wp.zeros(shape, dtype=wp.float32, device=dev)
    o.rank = wp.zeros(shape, dtype=wp.float32, device=dev)
    cam_arr = wp.array(cams, dtype=Camera, device=dev)
    probe_arr = wp.array(probes, dtype=Target, device=dev)
    mesh_id = world.mesh.id if world.mesh is not None else wp.uint64(0)
    has_mesh = 1 if world.mesh is not None else 0
    wp.load_module("swb.kernels.viz", device=dev)  # compile once before any threaded launch

    def launch(a: int, b: int) -> None:
        wp.launch(probe_kernel, dim=(len(cams), b - a), device=dev,
                  inputs=[cam_arr, probe_arr, mesh_id, has_mesh, world.lighting, a, o])

    _split_launch(world, len(probes), len(cams), launch)
    return ProbeEval(decodable=o.decodable.numpy().astype(bool), limiting=o.limiting.numpy(),
                     score=o.score.numpy(), ppm=o.ppm.numpy(), rank=o.rank.numpy())


# -------------------------------------------------------------------------------------------- sphere


def sphere(sim: Simulation, point: Sequence[float], *, cameras: Sequence[str] | None = None,
           symbol: ProbeSymbol | dict | None = None, resolution: int = 64, rotations: int = 8,
           reduce: str = "mean", quantity: str = "score", radius: float | None = None,
           out_dir: str | Path | None = None, name: str | None = None, label: str | None = None,
           record: bool = True) -> SphereResult:
    """Every orientation of a symbol centred at ``point``: an equal-area grid of normals (``resolution``
    azimuth columns x resolution / 2 rows) times ``rotations`` in-plane turns over 180 degrees, against the
    selected cameras (default all; each sample takes the best camera).

    Per normal the score is reduced over the turns with ``reduce`` (mean | min | max); the limiting factor is
    that of the worst turn; the best camera is the one decoding the most turns. ``quantity`` (score | camera)
    colours the sphere of ``radius`` (stage units, default 0.1 m) in the USD overlay and the map's left panel.
    """
    sym = _symbol(symbol)
    frame = _Frame(sim)
    p = frame.point(point, "point")
    grid = orientation_grid(int(resolution), int(rotations))
    _choice(reduce, REDUCTIONS, "reduce")
    _choice(quantity, ("score", "camera"), "quantity")
    radius_units = 0.1 / frame.mpu if radius is None else float(radius)
    radius_m = frame.length(radius_units, "radius")
    cams = _camera_indices(sim, cameras)
    name, label = _start(sim, "sphere", name, label)
    params = {"point": [float(x) for x in point], "cameras": None if cameras is None else list(cameras),
              "symbol": sym.to_json(), "resolution": int(resolution), "rotations": int(rotations),
              "reduce": reduce, "quantity": quantity, "radius": radius_units, "name": name, "scene": label}

    frames = grid.frames().reshape(-1, 3, 3)
    pairs = evaluate_probes(sim, pack_probes(sym, np.broadcast_to(p, (len(frames), 3)), frames), cams)
    shape = (grid.rows, grid.cols, grid.rotations)
    samples = {k: v.reshape(shape) for k, v in pairs.best().items()}
    samples["camera"] = np.asarray(cams, np.int32)[samples["camera"]]
    reducer = {"mean": np.mean, "min": np.min, "max": np.max}[reduce]
    worst = np.argmin(samples["rank"], axis=2)[..., None]
    dec = samples["decodable"]
    res = SphereResult(
        mode="sphere", parameters=params, camera_paths=[sim.scene.cameras[i].path for i in cams], point=p,
        grid=grid, normals=grid.normals(), score=reducer(samples["score"], axis=2).astype(np.float32),
        decodable_fraction=dec.mean(axis=2),
        limiting=np.take_along_axis(samples["limiting"], worst, axis=2)[..., 0].astype(np.int32),
        best_camera=_most_decoding_camera(samples["camera"], dec, len(sim.scene.cameras)), samples=samples,
        pairs=pairs)
    _finish(sim, res, out_dir, record, lambda info, d: out.write_sphere(res, info, sym, radius_m, d))
    return res


def _most_decoding_camera(camera: np.ndarray, decodable: np.ndarray, n_cams: int) -> np.ndarray:
    """Per (rows, cols): the scene camera that decodes the most samples along the last axis (first of equals),
    or -1 where none decodes."""
    counts = np.stack([np.sum(decodable & (camera == c), axis=2) for c in range(n_cams)], axis=-1)
    best = np.argmax(counts, axis=2).astype(np.int32)
    best[counts.max(axis=2) == 0] = -1
    return best


# --------------------------------------------------------------------------------------------- plane


def plane(sim: Simulation, origin: Sequence[float], normal: Sequence[float], extent: Sequence[float],
          resolution: Sequence[int] = (96, 64), *, u_axis: Sequence[float] | None = None,
          symbol_normal: Sequence[float] | None = None, roll_deg: float = 0.0,
          cameras: Sequence[str] | None = None, symbol: ProbeSymbol | dict | None = None,
          quantity: str = "score", out_dir: str | Path | None = None, name: str | None = None,
          label: str | None = None, record: bool = True) -> PlaneResult:
    """Symbols at every sample of a rectangle (centre ``origin``, ``extent`` along its two axes, ``resolution``
    samples along each), all in one orientation: lying in the plane (facing ``normal``, u along the first
    plane axis, which follows ``u_axis`` or else the horizontal) or facing ``symbol_normal``; both turned by
    ``roll_deg`` about their normal. Values are those of the best selected camera per cell; ``quantity``
    (score | ppm | limiting) colours the heat map and the grid mesh.
    """
    sym = _symbol(symbol)
    frame = _Frame(sim)
    _choice(quantity, ("score", "ppm", "limiting"), "quantity")
    ext = [frame.length(x, "extent") for x in _pair(extent, "extent", float)]
    counts = _pair(resolution, "resolution", int)
    grid = plane_grid(frame.point(origin, "origin"), frame.direction(normal, "normal"), (ext[0], ext[1]),
                      (counts[0], counts[1]), None if u_axis is None else frame.direction(u_axis, "u_axis"))
    roll = math.radians(float(roll_deg))
    if not math.isfinite(roll):
        raise SwbError(f"roll_deg must be finite, got {roll_deg!r}", attribute="roll_deg")
    if symbol_normal is None:
        rot = symbol_frames(grid.normal, roll, u_hint=grid.e1)[0]
    else:
        rot = symbol_frames(frame.direction(symbol_normal, "symbol_normal"), roll)[0]
    cams = _camera_indices(sim, cameras)
    name, label = _start(sim, "plane", name, label)
    params = {"origin": [float(x) for x in origin], "normal": [float(x) for x in normal],
              "extent": [float(x) for x in extent], "resolution": counts,
              "u_axis": None if u_axis is None else [float(x) for x in u_axis],
              "symbol_normal": None if symbol_normal is None else [float(x) for x in symbol_normal],
              "roll_deg": float(roll_deg), "cameras": None if cameras is None else list(cameras),
              "symbol": sym.to_json(), "quantity": quantity, "name": name, "scene": label}

    pts = grid.points()
    n = pts.shape[0] * pts.shape[1]
    pairs = evaluate_probes(sim, pack_probes(sym, pts.reshape(-1, 3), np.broadcast_to(rot, (n, 3, 3))), cams)
    best = pairs.best()
    shape = pts.shape[:2]
    res = PlaneResult(
        mode="plane", parameters=params, camera_paths=[sim.scene.cameras[i].path for i in cams], grid=grid,
        points=pts, rotation=rot, score=best["score"].reshape(shape), decodable=best["decodable"].reshape(shape),
        limiting=best["limiting"].reshape(shape), ppm=best["ppm"].reshape(shape),
        best_camera=np.asarray(cams, np.int32)[best["camera"]].reshape(shape), pairs=pairs)
    _finish(sim, res, out_dir, record, lambda info, d: out.write_plane(res, info, sym, cams, d))
    return res


# ---------------------------------------------------------------------------------------- projection


def projection(sim: Simulation, camera: str, *, stride: int = 8, symbol: ProbeSymbol | dict | None = None,
               quantity: str = "score", all_cameras: bool = False, out_dir: str | Path | None = None,
               name: str | None = None, label: str | None = None, record: bool = True) -> ProjectionResult:
    """Rays from ``camera`` through every ``stride``-th pixel into the whole environment; at each hit a symbol
    lying on the surface (facing the camera's side, u along the camera's x projected into the surface, 1 mm
    off it), judged by that camera, or with ``all_cameras`` by the best of all cameras."""
    sym = _symbol(symbol)
    _choice(quantity, ("score", "ppm", "limiting"), "quantity")
    stride = int(stride)
    if stride < 1:
        raise SwbError(f"the stride must be at least 1 pixel, got {stride}", attribute="stride")
    ci = _camera_indices(sim, [camera])[0]
    name, label = _start(sim, "projection", name, label)
    params = {"camera": camera, "stride": stride, "symbol": sym.to_json(), "quantity": quantity,
              "all_cameras": bool(all_cameras), "name": name, "scene": label}
    world = _current_world(sim)
    cam = world.cameras[ci]
    us = (np.arange(max(cam.width // stride, 1)) * stride + 0.5 * stride).astype(np.float32)
    vs = (np.arange(max(cam.height // stride, 1)) * stride + 0.5 * stride).astype(np.float32)
    rays = cast_pixel_rays(world, cam, us, vs)
    hit = rays["hit"]
    rot = np.asarray(cam.rotation, dtype=np.float64)
    frames = surface_frames(rays["normal"][hit], rot[:, 0], rot[:, 1])
    centres = rays["point"][hit] + SURFACE_OFFSET * rays["normal"][hit]
    cams = list(range(len(sim.scene.cameras))) if all_cameras else [ci]
    pairs = evaluate_probes(sim, pack_probes(sym, centres, frames), cams)
    best = pairs.best()

    def scatter(values: np.ndarray, fill: Any, dtype: Any) -> np.ndarray:
        a = np.full(hit.shape, fill, dtype=dtype)
        a[hit] = values
        return a

    res = ProjectionResult(
        mode="projection", parameters=params, camera_paths=[sim.scene.cameras[i].path for i in cams],
        camera=camera, us=us, vs=vs, hit=hit, points=rays["point"], normals=rays["normal"],
        distance=rays["distance"], score=scatter(best["score"], 0.0, np.float32),
        decodable=scatter(best["decodable"], False, bool), limiting=scatter(best["limiting"], 0, np.int32),
        ppm=scatter(best["ppm"], 0.0, np.float32),
        best_camera=scatter(np.asarray(cams, np.int32)[best["camera"]], -1, np.int32), pairs=pairs)
    _finish(sim, res, out_dir, record, lambda info, d: out.write_projection(res, info, cam, sym, d))
    return res


def cast_pixel_rays(world: World, cam: CameraModel, us: np.ndarray, vs: np.ndarray) -> dict[str, np.ndarray]:
    """First surface behind each pixel (us[i], vs[j]) of cam: hit, point, normal (facing the camera), distance."""
    shape = (len(vs), len(us))
    if world.mesh is None:
        return {"hit": np.zeros(shape, bool), "point": np.zeros((*shape, 3)), "normal": np.zeros((*shape, 3)),
                "distance": np.zeros(shape, np.float32)}
    dev = world.device
    cam_arr = wp.array(pack_cameras([cam], world.source), dtype=Camera, device=dev)
    hit = wp.zeros(shape, dtype=wp.uint8, device=dev)
    point = wp.zeros(shape, dtype=wp.vec3, device=dev)
    normal = wp.zeros(shape, dtype=wp.vec3, device=dev)
    dist = wp.zeros(shape, dtype=wp.float32, device=dev)
    u_arr = wp.array(np.asarray(us, np.float32), dtype=wp.float32, device=dev)
    v_arr = wp.array(np.asarray(vs, np.float32), dtype=wp.float32, device=dev)
    wp.launch(pixel_rays_kernel, dim=shape, device=dev,
              inputs=[cam_arr, 0, world.mesh.id, u_arr, v_arr, hit, point, normal, dist])
    return {"hit": hit.numpy().astype(bool), "point": point.numpy().astype(np.float64),
            "normal": normal.numpy().astype(np.float64), "distance": dist.numpy()}


# ---------------------------------------------------------------------------------------------- view


def view(sim: Simulation, *, from_camera: str | None = None, width: int = 1280, height: int = 800,
         azimuth_deg: float = -40.0, elevation_deg: float = 35.0, fov_deg: float = 40.0, samples: int = 2,
         frusta: bool = True, frustum_length: float | None = None, color_by: str = "status",
         out_dir: str | Path | None = None, name: str | None = None, label: str | None = None,
         record: bool = True) -> ViewResult:
    """A shaded picture of the station from a three-quarter viewpoint framing the scene (eye at ``azimuth_deg``
    from +X and ``elevation_deg`` above the horizon) or from a sensor camera (``height`` then follows its
    aspect). Targets are coloured by ``color_by``: status (green where they decode, by any camera or by that
    camera when seen from one, red where not), score, limiting factor or pixels per module (of the best camera,
    or of that camera); camera frusta reach the first surface on the optical axis, or ``frustum_length`` (stage
    units). ``samples`` per pixel axis smooth the edges."""
    _choice(color_by, VIEW_COLOURS, "color_by")
    width, height, samples = int(width), int(height), int(samples)
    if not (8 <= width <= 16384 and 8 <= height <= 16384):
        raise SwbError(f"the picture size must be 8..16384 pixels a side, got {width} x {height}",
                       attribute="width")
    if not 1 <= samples <= 8:
        raise SwbError(f"samples must be 1..8 per pixel axis, got {samples}", attribute="samples")
    if not 1.0 <= float(fov_deg) <= 150.0:
        raise SwbError(f"the field of view must be 1..150 degrees, got {fov_deg}", attribute="fov_deg")
    frame = _Frame(sim)
    length_m = None if frustum_length is None else frame.length(frustum_length, "frustum_length")
    name, label = _start(sim, "view", name, label)
    results = sim.evaluate()
    world = sim.world
    ci = None if from_camera is None else _camera_indices(sim, [from_camera])[0]
    if ci is None:
        vcam = three_quarter_camera(sim, width, height, float(azimuth_deg), float(elevation_deg), float(fov_deg))
        status = results.pairs.decodable.any(axis=0)
    else:
        src = world.cameras[ci]
        height = max(1, int(round(width * src.height / src.width)))
        vcam = dataclasses.replace(src, path="/SWB/Viz/view/Camera", width=width, height=height)
        status = results.pairs.decodable[ci]
    params = {"from_camera": from_camera, "width": width, "height": height, "azimuth_deg": float(azimuth_deg),
              "elevation_deg": float(elevation_deg), "fov_deg": float(fov_deg), "samples": samples,
              "frusta": bool(frusta), "frustum_length": frustum_length, "color_by": color_by, "name": name,
              "scene": label}
    values, colours = target_colouring(results, ci, color_by)
    image, depth = render_view(world, vcam, status, samples, colours)
    shown = [i for i in range(len(world.cameras)) if i != ci] if frusta else []
    res = ViewResult(mode="view", parameters=params, camera_paths=[c.path for c in world.cameras], image=image,
                     depth=depth, view_camera=vcam, target_decodable=np.asarray(status, bool),
                     frusta=[(i, frustum_segments(world, world.cameras[i], length_m)) for i in shown],
                     color_by=color_by, target_values=values, target_colours=colours)
    _finish(sim, res, out_dir, record, lambda info, d: out.write_view(res, info, world.targets, ci, d))
    return res


def target_colouring(results: Any, camera: int | None, color_by: str) -> tuple[np.ndarray, np.ndarray]:
    """Per target, the value ``color_by`` shows and its colour: of the best camera (the one a target summary
    names), or of ``camera``. Status is 1 / 0; limiting is the factor code (0: decodes); ppm the worst module
    axis (the bar height does not count for 1-D symbols)."""
    p = results.pairs
    n = len(results.targets)
    if camera is None:
        summaries = results.summaries()
        index = {c.path: i for i, c in enumerate(results.cameras)}
        cams = np.array([index.get(s.best_camera, 0) if s.best_camera else 0 for s in summaries], np.int64)
        decodable = p.decodable.any(axis=0)
    else:
        cams = np.full(n, camera, np.int64)
        decodable = p.decodable[camera]
    cols = np.arange(n)
    linear = np.array([t.linear for t in results.targets], bool)
    if color_by == "score":
        values = p.score[cams, cols].astype(np.float64)
        return values, out.score_colours(values, decodable)
    if color_by == "p_read":  # the best camera's one-frame read probability (a target summary's), or the camera's
        values = (p.p_read.max(axis=0) if camera is None else p.p_read[camera]).astype(np.float64)
        return values, out.score_colours(values, values > 0.0)
    if color_by == "limiting":
        values = np.where(decodable, 0, p.limiting[cams, cols]).astype(np.int64)
        return values.astype(np.float64), out.factor_colours(values)
    if color_by == "ppm":
        values = np.where(linear, p.ppm_u[cams, cols], np.minimum(p.ppm_u[cams, cols], p.ppm_w[cams, cols]))
        values = np.where(np.isfinite(values), values, 0.0).astype(np.float64)
        return values, out.ppm_colours(values, values > 0.0)
    values = np.asarray(decodable, np.float64)
    return values, np.where(np.asarray(decodable, bool)[:, None], out.DECODES, out.FAILS)


def scene_points(sim: Simulation, limit: int = 200_000) -> np.ndarray:
    """World points that outline the station: mesh vertices (evenly thinned to ``limit``), cameras, targets."""
    pts = [p.world_points() for p in sim.scene.parts if len(p.points)]
    pts += [np.asarray([c.position for c in sim.scene.cameras], np.float64).reshape(-1, 3)]
    pts += [np.asarray([t.position for t in sim.scene.targets], np.float64).reshape(-1, 3)]
    pts = [p for p in pts if len(p)]
    allp = np.concatenate(pts) if pts else np.zeros((1, 3))
    return allp[:: max(1, len(allp) // limit)]


def look_at(eye: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Camera -> world rotation of a camera at eye looking at centre, world Z up (USD camera axes)."""
    f = unit(np.asarray(centre, np.float64) - eye, "viewing direction")
    right = np.cross(f, [0.0, 0.0, 1.0])
    if np.linalg.norm(right) < 1e-9:
        right = np.array([1.0, 0.0, 0.0])
    right /= np.linalg.norm(right)
    return np.stack([right, np.cross(right, f), -f], axis=1)


def three_quarter_camera(sim: Simulation, width: int, height: int, azimuth_deg: float, elevation_deg: float,
                         fov_deg: float) -> CameraModel:
    """A pinhole camera (vertical field ``fov_deg``) looking at the centre of the scene's bounds from the given
    azimuth and elevation, just far enough away that the whole station is in the picture."""
    pts = scene_points(sim)
    centre = 0.5 * (pts.min(axis=0) + pts.max(axis=0))
    az, el = math.radians(azimuth_deg), math.radians(elevation_deg)
    towards_eye = np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
    rot = look_at(centre + towards_eye, centre)
    tan_y = math.tan(math.radians(fov_deg) / 2.0)
    tan_x = tan_y * width / height
    rel = (pts - centre) @ rot  # camera-frame coordinates; +z points back at the eye
    dist = float(np.max(rel[:, 2] + np.maximum(np.abs(rel[:, 0]) / tan_x, np.abs(rel[:, 1]) / tan_y)))
    dist *= 1.05
    dist = max(dist, float(np.max(rel[:, 2])) + 0.05)
    pitch = 1.0e-5  # metres per pixel of a virtual sensor; only fx, fy matter
    fy = 0.5 * height / tan_y
    return CameraModel(path="/SWB/Viz/view/Camera", rotation=rot, position=centre + dist * towards_eye,
                       width=width, height=height, focal_length=fy * pitch, aperture=(width * pitch, height * pitch),
                       clipping=(1e-3, 1e6))


def render_view(world: World, vcam: CameraModel, status: np.ndarray, samples: int = 2,
                colours: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) shaded colours and (H, W) depth of the world seen by vcam; targets coloured by status (green,
    red) or by ``colours`` (RGB per target)."""
    dev = world.device
    h, w = int(vcam.height), int(vcam.width)
    cam_arr = wp.array(pack_cameras([vcam], world.source), dtype=Camera, device=dev)
    face_colour = out.part_colours(len(world.parts))[world.face_part] if len(world.face_part) else np.zeros((1, 3))
    face_arr = wp.array(np.asarray(face_colour, np.float32).reshape(-1, 3), dtype=wp.vec3, device=dev)
    labels = np.zeros(max(len(world.targets), 1), dtype=np.dtype(Label.numpy_dtype()))
    if world.targets:
        labels["rot"] = np.array([np.asarray(t.rotation, np.float64) for t in world.targets])
        labels["pos"] = np.array([np.asarray(t.position, np.float64) for t in world.targets])
        labels["half"] = 0.5 * np.array([t.size_with_quiet_zone for t in world.targets])
        labels["colour"] = np.where(np.asarray(status, bool)[:, None], out.DECODES, out.FAILS) if colours is None \
            else np.asarray(colours, np.float64)
    label_arr = wp.array(labels, dtype=Label, device=dev)
    shade = Shading()
    shade.background_top = wp.vec3(*out.SKY_TOP)
    shade.background_bottom = wp.vec3(*out.SKY_BOTTOM)
    shade.ambient = 0.35
    shade.samples = int(samples)
    rgb = wp.zeros((h, w), dtype=wp.vec3, device=dev)
    depth = wp.zeros((h, w), dtype=wp.float32, device=dev)
    mesh_id = world.mesh.id if world.mesh is not None else wp.uint64(0)
    has_mesh = 1 if world.mesh is not None else 0
    wp.load_module("swb.kernels.raycast", device=dev)

    def launch(a: int, b: int) -> None:
        wp.launch(render_view_kernel, dim=(b - a, w), device=dev,
                  inputs=[cam_arr, 0, mesh_id, has_mesh, face_arr, label_arr, len(world.targets), shade, a, rgb,
                          depth])

    _split_launch(world, h, w * samples * samples, launch)
    return rgb.numpy().astype(np.float64), depth.numpy().astype(np.float64)


def frustum_segments(world: World, cam: CameraModel, length: float | None) -> np.ndarray:
    """(8, 2, 3) segments of cam's viewing pyramid: 4 edges from the centre of projection and the far rectangle,
    at ``length`` metres or else at the first surface on the optical axis (0.2..3 m; 1 m when there is none)."""
    if length is None:
        rays = cast_pixel_rays(world, cam, np.array([cam.cx], np.float32), np.array([cam.cy], np.float32))
        length = float(np.clip(rays["distance"][0, 0], 0.2, 3.0)) if rays["hit"][0, 0] else 1.0
    rot, pos = np.asarray(cam.rotation, np.float64), np.asarray(cam.position, np.float64)
    corners = [pos + rot @ np.array([(u - cam.cx) / cam.fx * length, (cam.cy - v) / cam.fy * length, -length])
               for u, v in ((0.0, 0.0), (cam.width, 0.0), (cam.width, cam.height), (0.0, cam.height))]
    return np.array([(pos, c) for c in corners] + [(corners[k], corners[(k + 1) % 4]) for k in range(4)])


# ----------------------------------------------------------------------------------------- regenerate


def run_mode(sim: Simulation, mode: str, parameters: dict[str, Any], out_dir: str | Path | None = None,
             record: bool = False) -> VizResult:
    """Call a mode with recorded parameters (``VizResult.parameters`` of an earlier call)."""
    _choice(mode, MODES, "visualisation mode")
    params = dict(parameters)
    params["label"] = params.pop("scene", None)
    try:
        if mode == "sphere":
            return sphere(sim, params.pop("point"), out_dir=out_dir, record=record, **params)
        if mode == "plane":
            return plane(sim, params.pop("origin"), params.pop("normal"), params.pop("extent"), out_dir=out_dir,
                         record=record, **params)
        if mode == "projection":
            return projection(sim, params.pop("camera"), out_dir=out_dir, record=record, **params)
        return view(sim, out_dir=out_dir, record=record, **params)
    except (KeyError, TypeError) as exc:
        raise SwbError(f"the saved parameters of the {mode} picture are incomplete or malformed ({exc})",
                       prim="/SWB", attribute="swb:ui:vizParameters",
                       hint=f"make the picture again with `swb viz {mode}`") from None


def regenerate(sim: Simulation, out_dir: str | Path, name: str | None = None, label: str | None = None
               ) -> VizResult:
    """Re-create the picture sim.ui records (after ``swb restore``).

    A picture mode (sphere, plane, projection, view) comes back with the same parameters, file names and scene
    label: on the same device the PNG comes out byte for byte. A per-target mode (score, p_read, limiting, ppm) is
    a view of the station with the targets coloured by it, and "none" (a save of `swb eval --save`) one coloured by
    status; both look through the UI state's active camera when it is a sensor camera. ``name`` and ``label``:
    the file stem (default <scene>.<mode>) and the title's scene name of such a view.
    """
    mode = sim.ui.visualisation_mode
    if mode in MODES:
        return run_mode(sim, mode, sim.ui.viz_parameters, out_dir, record=False)
    cameras = {c.path for c in sim.scene.cameras}
    active = sim.ui.active_camera if sim.ui.active_camera in cameras else None
    color_by = mode if mode in VIEW_COLOURS else "status"
    stem = name or f"{sim.scene_path.stem}.{mode if mode != 'none' else 'view'}"
    return view(sim, from_camera=active, color_by=color_by, out_dir=out_dir, name=stem, label=label, record=False)
