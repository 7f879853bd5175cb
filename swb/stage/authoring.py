"""Add sensor cameras and barcode targets to a station without editing its files.

Each call authors into ``out_layer``: a new layer that sublayers the station (created on first use, with the
station's stage metadata copied, since USD reads units and up axis from the root layer only), or an existing
layer (the same ``out_layer`` again adds more; the station's own file may be given to edit it by hand).

Lengths follow the stage, like the rest of USD: positions, distances and velocities are in scene units and the
stage's axes (an imported station is metres, Z up). Sensor optics are given as a buyer reads them, in mm and
micrometres, and converted: focalLength and apertures are tenths of a scene unit (docs/schemas.md), module sizes and
bar heights are scene units. SwbSensorAPI / SwbBarcodeAPI attributes are authored with explicit types and the
API names added with ``AddAppliedSchema``, so the result does not depend on SWB's schema being registered.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from pxr import Gf, Sdf, Usd, UsdGeom

from ..engine.profiles import PROFILES, SYMBOLOGIES
from ..errors import SwbError
from . import schema as S
from .layers import copy_stage_metadata, export_atomic, open_layer

Vec3 = Sequence[float]
# The default sensor camera is a common 2.3 MP global-shutter machine-vision camera as a buyer would configure it
# for a conveyor: Sony IMX392 class sensor (1920 x 1200 pixels of 3.45 um), a 16 mm C-mount lens at f/5.6
# (depth of field for parcels of mixed height), fixed focus on the point it looks at, 0.5 ms exposure (strobed
# lighting; 1 mm of motion at 2 m/s). No value is left out: every factor of the model (defocus, motion) applies.
DEFAULT_FOCAL_LENGTH_MM = 16.0
DEFAULT_RESOLUTION = (1920, 1200)
DEFAULT_PIXEL_PITCH_UM = 3.45
DEFAULT_F_NUMBER = 5.6
DEFAULT_EXPOSURE_S = 0.5e-3
DEFAULT_CLIPPING_M = (0.01, 1000.0)


def _vec(value: Vec3, name: str, out: Path) -> np.ndarray:
    try:
        v = np.asarray([float(x) for x in value], dtype=np.float64)
    except (TypeError, ValueError):
        raise SwbError(f"{name} must be three numbers, got {value!r}", file=str(out)) from None
    if v.shape != (3,) or not np.all(np.isfinite(v)):
        raise SwbError(f"{name} must be three finite numbers, got {value!r}", file=str(out))
    return v


def _unit(v: np.ndarray, name: str, out: Path) -> np.ndarray:
    n = float(np.linalg.norm(v))
    if n < 1e-12:
        raise SwbError(f"{name} must not be zero", file=str(out))
    return v / n


def _positive(value: float, name: str, out: Path, allow_zero: bool = False) -> float:
    v = float(value)
    if not math.isfinite(v) or v < 0.0 or (v == 0.0 and not allow_zero):
        raise SwbError(f"{name} must be {'non-negative' if allow_zero else 'positive'}, got {value}", file=str(out))
    return v


def _row_matrix(axes: tuple[np.ndarray, np.ndarray, np.ndarray], position: np.ndarray) -> Gf.Matrix4d:
    """Row-vector Gf matrix whose rows are the local X, Y, Z axes and the origin (world coordinates)."""
    rows = [[*axes[0], 0.0], [*axes[1], 0.0], [*axes[2], 0.0], [*position, 1.0]]
    return Gf.Matrix4d([[float(x) for x in row] for row in rows])


def _stage_up(stage: Usd.Stage) -> np.ndarray:
    return np.array([0.0, 1.0, 0.0]) if UsdGeom.GetStageUpAxis(stage) == UsdGeom.Tokens.y else np.array([0.0, 0, 1])


def _edit(stage_path: str | Path, out_layer: str | Path, prim_path: str,
          author: Callable[[Usd.Stage, Sdf.Path, float], None]) -> Path:
    """Open the stage through ``out_layer``, let ``author`` edit it there, and save ``out_layer`` atomically."""
    station, out = Path(stage_path), Path(out_layer)
    base = open_layer(station)  # SwbError for a missing or unreadable station
    if out.suffix.lower() not in (".usda", ".usd", ".usdc"):
        raise SwbError(f"the layer to author must be a USD file, not {out.suffix or 'a name without suffix'}",
                       file=str(out), hint="e.g. -o sensors.usda")
    try:
        path = Sdf.Path(prim_path)
    except Exception:  # noqa: BLE001 - pxr raises several types for bad paths
        path = Sdf.Path()
    if path.isEmpty or not path.IsAbsolutePath() or not path.IsPrimPath() or path == Sdf.Path.absoluteRootPath:
        raise SwbError(f"{prim_path!r} is not an absolute prim path", file=str(out), prim=str(prim_path),
                       hint="e.g. /World/Cameras/Top")

    same = out.exists() and out.resolve() == station.resolve()
    if same:
        layer, created = base, False
    elif out.exists():
        layer, created = open_layer(out), False
    else:
        layer, created = Sdf.Layer.CreateAnonymous(out.suffix), True
        copy_stage_metadata(base, layer)
    rel = os.path.relpath(station.resolve(), out.resolve().parent).replace(os.sep, "/")
    sublayer_for_file = rel if rel.startswith("..") else f"./{rel}"
    if not same:
        resolved = {os.path.normpath(os.path.join(str(out.resolve().parent), p)) for p in layer.subLayerPaths}
        if str(station.resolve()) not in resolved:
            # while composing, an anonymous layer needs the absolute path; the file gets the relative one
            layer.subLayerPaths.append(str(station.resolve()) if created else sublayer_for_file)
    backup = None if created else layer.ExportToString()
    try:
        stage = Usd.Stage.Open(layer, Usd.Stage.LoadAll)
        mpu = float(UsdGeom.GetStageMetersPerUnit(stage))
        author(stage, path, mpu)
        del stage  # re-pointing the sublayer below must not recompose an open stage
        if created:
            layer.subLayerPaths = [sublayer_for_file]
        export_atomic(layer, out)
    except BaseException:
        if backup is not None:  # leave the in-memory layer as the file on disk is
            layer.ImportFromString(backup)
        raise
    return out


def _ensure_parents(stage: Usd.Stage, path: Sdf.Path) -> None:
    for parent in reversed(path.GetParentPath().GetPrefixes()):
        if not stage.GetPrimAtPath(parent):
            UsdGeom.Xform.Define(stage, parent)


def _set_world(stage: Usd.Stage, prim: Usd.Prim, world: Gf.Matrix4d) -> None:
    """Author the prim's local transform so its local-to-world is ``world`` (row-vector)."""
    parent = prim.GetParent()
    parent_world = Gf.Matrix4d(1.0)
    if parent and parent.IsA(UsdGeom.Xformable):
        parent_world = UsdGeom.Xformable(parent).ComputeLocalToWorldTransform(Usd.TimeCode.Default())
    if abs(parent_world.GetDeterminant()) < 1e-300:
        raise SwbError("the parent's transform is singular", prim=str(parent.GetPath()))
    UsdGeom.Xformable(prim).MakeMatrixXform().Set(world * parent_world.GetInverse())


def _set(prim: Usd.Prim, name: str, type_name: Sdf.ValueTypeName, value) -> None:
    prim.CreateAttribute(name, type_name, custom=False).Set(value)


def add_camera(
    stage_path: str | Path,
    out_layer: str | Path,
    prim_path: str,
    position: Vec3,
    look_at: Vec3,
    focal_length_mm: float = DEFAULT_FOCAL_LENGTH_MM,
    resolution: tuple[int, int] = DEFAULT_RESOLUTION,
    *,
    up: Vec3 | None = None,
    pixel_pitch_um: float = DEFAULT_PIXEL_PITCH_UM,
    f_number: float = DEFAULT_F_NUMBER,
    focus_distance: float | None = None,
    focus_mode: str = "fixed",
    focus_range: tuple[float, float] | None = None,
    exposure_time_s: float | None = DEFAULT_EXPOSURE_S,
    decoder_profile: str = "industrial",
    max_tilt_deg: float | None = None,
    wavelength_nm: float | None = None,
    clipping_range: tuple[float, float] | None = None,
    min_read_probability: float | None = None,
    frame_rate_hz: float | None = None,
) -> Path:
    """Author a sensor camera (UsdGeom.Camera + SwbSensorAPI) at ``position`` looking at ``look_at``.

    ``position``, ``look_at``, ``focus_distance`` (default: the distance to ``look_at``), ``focus_range`` and
    ``clipping_range`` (default 1 cm to 1 km) are in scene units; ``up`` (default the stage's up axis) keeps
    the image upright. The optics default to a realistic industrial camera (see DEFAULT_*: 1920 x 1200 x 3.45 um,
    16 mm, f/5.6, 0.5 ms); ``f_number=0`` is a pinhole (no defocus) and ``exposure_time_s=None`` authors no
    exposure time (no motion blur), both only on request. Returns the written layer.
    """
    out = Path(out_layer)
    pos, target = _vec(position, "position", out), _vec(look_at, "look_at", out)
    forward = _unit(target - pos, "look_at - position (the viewing direction)", out)
    width, height = (int(v) for v in resolution)
    if width <= 0 or height <= 0:
        raise SwbError(f"resolution must be positive, got {resolution}", file=str(out))
    focal = _positive(focal_length_mm, "focal_length_mm", out)
    pitch = _positive(pixel_pitch_um, "pixel_pitch_um", out)
    f_number = _positive(f_number, "f_number", out, allow_zero=True)
    if focus_mode not in S.FOCUS_MODES:
        raise SwbError(f"focus mode must be one of {', '.join(S.FOCUS_MODES)}, got {focus_mode!r}", file=str(out))
    if decoder_profile not in PROFILES:
        raise SwbError(f"decoder profile must be one of {', '.join(PROFILES)}, got {decoder_profile!r}",
                       file=str(out))
    if exposure_time_s is not None:
        exposure_time_s = _positive(exposure_time_s, "exposure_time_s", out, allow_zero=True)
    if min_read_probability is not None and not 0.0 < float(min_read_probability) < 1.0:
        raise SwbError(f"min_read_probability must lie strictly between 0 and 1, got {min_read_probability}",
                       file=str(out), hint="e.g. 0.9: a pair is decodable when one frame reads it 9 times in 10")
    if frame_rate_hz is not None:
        frame_rate_hz = _positive(frame_rate_hz, "frame_rate_hz", out)

    def author(stage: Usd.Stage, path: Sdf.Path, mpu: float) -> None:
        if up is not None:
            candidates = [_unit(_vec(up, "up", out), "up", out)]
        else:  # a camera looking straight down keeps the image's top towards +Y (or +X)
            candidates = [_stage_up(stage), np.array([0.0, 1.0, 0.0]), np.array([1.0, 0.0, 0.0])]
        right = next((r for r in (np.cross(forward, c) for c in candidates) if np.linalg.norm(r) > 1e-6), None)
        if right is None:
            raise SwbError("the camera looks along its up direction", file=str(out), prim=str(path),
                           hint="give another up vector (--up)")
        right /= np.linalg.norm(right)
        cam_up = np.cross(right, forward)
        existing = stage.GetPrimAtPath(path)
        if existing and not existing.IsA(UsdGeom.Camera):
            raise SwbError(f"a {existing.GetTypeName() or 'typeless'} prim is already there", file=str(out),
                           prim=str(path), hint="choose a new prim path for the camera")
        _ensure_parents(stage, path)
        cam = UsdGeom.Camera.Define(stage, path)
        prim = cam.GetPrim()
        _set_world(stage, prim, _row_matrix((right, cam_up, -forward), pos))
        tenth = 1.0 / (100.0 * mpu)  # mm -> tenths of a scene unit
        cam.CreateProjectionAttr(UsdGeom.Tokens.perspective)
        cam.CreateFocalLengthAttr(focal * tenth)
        cam.CreateHorizontalApertureAttr(width * pitch * 1e-3 * tenth)
        cam.CreateVerticalApertureAttr(height * pitch * 1e-3 * tenth)
        near, far = clipping_range if clipping_range is not None else (v / mpu for v in DEFAULT_CLIPPING_M)
        if not (0.0 < float(near) < float(far)):
            raise SwbError(f"clipping range must satisfy 0 < near < far, got ({near}, {far})", file=str(out))
        cam.CreateClippingRangeAttr(Gf.Vec2f(float(near), float(far)))
        cam.CreateFStopAttr(float(f_number))
        distance = float(np.linalg.norm(target - pos)) if focus_distance is None else float(focus_distance)
        cam.CreateFocusDistanceAttr(_positive(distance, "focus_distance", out))
        if exposure_time_s is not None:
            cam.CreateExposureTimeAttr(float(exposure_time_s))
        prim.AddAppliedSchema(S.SENSOR_API)
        _set(prim, S.SENSOR_RESOLUTION, Sdf.ValueTypeNames.Int2, Gf.Vec2i(width, height))
        _set(prim, S.SENSOR_FOCUS_MODE, Sdf.ValueTypeNames.Token, focus_mode)
        _set(prim, S.SENSOR_DECODER_PROFILE, Sdf.ValueTypeNames.Token, decoder_profile)
        if focus_range is not None:
            lo, hi = (float(v) for v in focus_range)
            _set(prim, S.SENSOR_FOCUS_RANGE, Sdf.ValueTypeNames.Float2, Gf.Vec2f(lo, hi))
        if max_tilt_deg is not None:
            _set(prim, S.SENSOR_MAX_TILT, Sdf.ValueTypeNames.Float, float(max_tilt_deg))
        if wavelength_nm is not None:
            _set(prim, S.SENSOR_WAVELENGTH, Sdf.ValueTypeNames.Float, float(wavelength_nm))
        if min_read_probability is not None:
            _set(prim, S.SENSOR_MIN_READ_PROBABILITY, Sdf.ValueTypeNames.Float, float(min_read_probability))
        if frame_rate_hz is not None:
            _set(prim, S.SENSOR_FRAME_RATE, Sdf.ValueTypeNames.Float, float(frame_rate_hz))

    return _edit(stage_path, out, prim_path, author)


def add_target(
    stage_path: str | Path,
    out_layer: str | Path,
    prim_path: str,
    position: Vec3 | None,
    normal: Vec3 | None,
    symbology: str,
    module_size_mm: float,
    modules: tuple[int, int],
    *,
    u_axis: Vec3 | None = None,
    bar_height_mm: float | None = None,
    quiet_zone: float | None = None,
    print_contrast: float | None = None,
    velocity: Vec3 | None = None,
    content: str | None = None,
) -> Path:
    """Author a barcode target (SwbBarcodeAPI) centred at ``position``, readable from ``normal``.

    A new prim is an Xform; an existing prim (a label part of the import) gets the API, and is moved only when
    ``position`` is given. ``u_axis`` (across the bars; default horizontal: stage up x normal, or stage X for
    a label facing up) is projected onto the label plane. ``velocity`` is scene units per second.
    Returns the written layer.
    """
    out = Path(out_layer)
    if symbology not in SYMBOLOGIES:
        raise SwbError(f"symbology must be one of {', '.join(SYMBOLOGIES)}, got {symbology!r}", file=str(out))
    module = _positive(module_size_mm, "module_size_mm", out)
    cols, rows = (int(v) for v in modules)
    if cols <= 0 or rows <= 0:
        raise SwbError(f"modules must be positive (columns, rows), got {modules}", file=str(out))
    if (position is None) != (normal is None):
        raise SwbError("give position and normal together (or neither, to label an existing prim)", file=str(out))
    pos = _vec(position, "position", out) if position is not None else None
    n = _unit(_vec(normal, "normal", out), "normal", out) if normal is not None else None
    vel = _vec(velocity, "velocity", out) if velocity is not None else None

    def author(stage: Usd.Stage, path: Sdf.Path, mpu: float) -> None:
        prim = stage.GetPrimAtPath(path)
        if prim and not prim.IsA(UsdGeom.Xformable):
            raise SwbError(f"a {prim.GetTypeName() or 'typeless'} prim cannot carry a barcode", file=str(out),
                           prim=str(path), hint="use an Xform or a mesh part")
        if not prim:
            if pos is None:
                raise SwbError("no such prim; give a position and normal to create the target", file=str(out),
                               prim=str(path))
            _ensure_parents(stage, path)
            prim = UsdGeom.Xform.Define(stage, path).GetPrim()
        if pos is not None:
            if u_axis is not None:
                u = _vec(u_axis, "u_axis", out)
            else:
                u = np.cross(_stage_up(stage), n)
                if np.linalg.norm(u) < 1e-9:
                    u = np.array([1.0, 0.0, 0.0])
            u = u - np.dot(u, n) * n
            u = _unit(u, "u_axis projected on the label plane (it is parallel to the normal)", out)
            _set_world(stage, prim, _row_matrix((u, np.cross(n, u), n), pos))
        scene = 1e-3 / mpu  # mm -> scene units
        prim.AddAppliedSchema(S.BARCODE_API)
        _set(prim, S.BARCODE_SYMBOLOGY, Sdf.ValueTypeNames.Token, symbology)
        _set(prim, S.BARCODE_MODULE_SIZE, Sdf.ValueTypeNames.Float, module * scene)
        _set(prim, S.BARCODE_MODULES, Sdf.ValueTypeNames.Int2, Gf.Vec2i(cols, rows))
        if bar_height_mm is not None:
            _set(prim, S.BARCODE_BAR_HEIGHT, Sdf.ValueTypeNames.Float,
                 _positive(bar_height_mm, "bar_height_mm", out) * scene)
        if quiet_zone is not None:
            _set(prim, S.BARCODE_QUIET_ZONE, Sdf.ValueTypeNames.Float, float(quiet_zone))
        if print_contrast is not None:
            if not 0.0 < float(print_contrast) <= 1.0:
                raise SwbError(f"print contrast must be in (0, 1], got {print_contrast}", file=str(out))
            _set(prim, S.BARCODE_PRINT_CONTRAST, Sdf.ValueTypeNames.Float, float(print_contrast))
        if vel is not None:
            _set(prim, S.BARCODE_VELOCITY, Sdf.ValueTypeNames.Float3, Gf.Vec3f(*map(float, vel)))
        if content is not None:
            _set(prim, S.BARCODE_CONTENT, Sdf.ValueTypeNames.String, str(content))

    return _edit(stage_path, out, prim_path, author)
