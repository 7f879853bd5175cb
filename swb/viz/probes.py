"""Probe symbols for the pictures: where imaginary barcodes are put and how they are turned.

A probe is a symbol that exists only for a picture. Probes are packed straight into the kernels' ``Target``
record (vectorised, no per-probe Python objects), sized exactly as a ``TargetModel`` of the same spec would be,
so a probe and a real target at the same pose give the same verdict.

Frames are SWB world frames (metres, Z up). A symbol frame is a rotation whose columns are u (across the bars),
w (along the bars) and the normal (the side it is read from).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from swb.kernels.camera import Target

from ..engine.model import TargetModel
from ..engine.profiles import CLASS_CODE, SYMBOLOGIES, SYMBOLOGY_CODE, module_aspect
from ..errors import SwbError

_EPS = 1.0e-9


@dataclass(frozen=True)
class ProbeSymbol:
    """The symbol every probe of a picture carries (default: a shipping-label Code 128 of 100 modules at 0.5 mm,
    the GS1 logistics label's module size; 0.33 mm retail codes read only from much closer)."""

    symbology: str = "code128"
    module_size: float = 0.5e-3  # metres
    modules: tuple[int, int] = (100, 1)  # columns, rows (1-D: modules across, 1)
    bar_height: float | None = None  # metres, 1-D only; None: 15 % of the length
    quiet_zone: float | None = None  # modules; None: the symbology's default

    def validate(self, where: str = "probe symbol") -> None:
        if self.symbology not in SYMBOLOGIES:
            raise SwbError(f"{where}: unknown symbology {self.symbology!r}", attribute="symbology",
                           hint=f"use one of {', '.join(SYMBOLOGIES)}")
        if not (math.isfinite(self.module_size) and self.module_size > 0.0):
            raise SwbError(f"{where}: the module size must be a positive length, got {self.module_size!r}",
                           attribute="module_size", hint="e.g. --module-size-mm 0.5")
        cols, rows = self.modules
        if cols < 1 or rows < 1:
            raise SwbError(f"{where}: modules must be at least 1 x 1, got {cols} x {rows}", attribute="modules")
        if self.bar_height is not None and not (math.isfinite(self.bar_height) and self.bar_height > 0.0):
            raise SwbError(f"{where}: the bar height must be a positive length", attribute="bar_height")
        if self.quiet_zone is not None and not (math.isfinite(self.quiet_zone) and self.quiet_zone >= 0.0):
            raise SwbError(f"{where}: the quiet zone must be zero or more modules", attribute="quiet_zone")

    def template(self, path: str = "/SWB/Probe") -> TargetModel:
        """A TargetModel of this spec at the origin (the one sizes and classes are read from)."""
        return TargetModel(path=path, rotation=np.eye(3), position=np.zeros(3), symbology=self.symbology,
                           module_size=self.module_size, modules=(int(self.modules[0]), int(self.modules[1])),
                           bar_height=self.bar_height, quiet_zone=self.quiet_zone)

    def describe(self) -> str:
        cols, rows = self.modules
        count = f"{cols} modules" if rows == 1 else f"{cols}x{rows} modules"
        return f"{self.symbology} {self.module_size * 1e3:.3g} mm, {count}"

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["modules"] = [int(self.modules[0]), int(self.modules[1])]
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ProbeSymbol:
        try:
            sym = cls(symbology=str(doc.get("symbology", "code128")),
                      module_size=float(doc.get("module_size", 0.33e-3)),
                      modules=tuple(int(m) for m in doc.get("modules", (100, 1))),  # type: ignore[arg-type]
                      bar_height=None if doc.get("bar_height") is None else float(doc["bar_height"]),
                      quiet_zone=None if doc.get("quiet_zone") is None else float(doc["quiet_zone"]))
        except (TypeError, ValueError) as exc:
            raise SwbError(f"probe symbol parameters are malformed: {exc}", attribute="swb:ui:vizParameters",
                           hint="regenerate the picture with `swb viz`") from None
        sym.validate()
        return sym


def pack_probes(symbol: ProbeSymbol, positions: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """Target records for one symbol spec at many poses (positions (n, 3), rotations (n, 3, 3), metres)."""
    symbol.validate()
    tm = symbol.template()
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    rotations = np.asarray(rotations, dtype=np.float64).reshape(-1, 3, 3)
    if len(positions) != len(rotations):
        raise ValueError(f"{len(positions)} positions but {len(rotations)} rotations")
    out = np.zeros(len(positions), dtype=np.dtype(Target.numpy_dtype()))
    out["rot"] = rotations
    out["pos"] = positions
    out["half_size"] = 0.5 * np.asarray(tm.size, dtype=np.float64)
    out["half_size_qz"] = 0.5 * np.asarray(tm.size_with_quiet_zone, dtype=np.float64)
    out["module_size"] = tm.module_size
    out["module_size_w"] = tm.module_size * module_aspect(tm.symbology)
    out["cls"] = CLASS_CODE[SYMBOLOGIES[tm.symbology]]
    out["sym"] = SYMBOLOGY_CODE[tm.symbology]
    out["reflectance"] = tm.reflectance
    out["print_contrast"] = tm.print_contrast
    out["glossy"] = 1 if tm.glossy else 0
    out["gloss_angle"] = tm.gloss_angle_deg
    return out


def unit(v: np.ndarray, what: str = "direction") -> np.ndarray:
    """Rows of v normalised; a zero-length row is a user error."""
    v = np.asarray(v, dtype=np.float64)
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    if np.any(n < _EPS) or not np.all(np.isfinite(v)):
        raise SwbError(f"the {what} must be a non-zero, finite vector, got {np.asarray(v).tolist()}")
    return v / n


def symbol_frames(normals: np.ndarray, rolls: np.ndarray | float = 0.0,
                  u_hint: np.ndarray | None = None) -> np.ndarray:
    """Symbol rotations (n, 3, 3) with the given normals, u turned by ``rolls`` (radians) about the normal.

    Roll 0 puts u along ``u_hint`` projected into the symbol plane (default: horizontal, Z x normal; +X for a
    symbol facing straight up or down); w = normal x u keeps the frame right-handed.
    """
    n = unit(np.asarray(normals, dtype=np.float64).reshape(-1, 3), "normal")
    if u_hint is None:
        u0 = np.cross(np.array([0.0, 0.0, 1.0]), n)
        flat = np.linalg.norm(u0, axis=1) < 1.0e-6
        u0[flat] = np.array([1.0, 0.0, 0.0])
    else:
        hint = np.broadcast_to(np.asarray(u_hint, dtype=np.float64).reshape(-1, 3), n.shape)
        u0 = hint - np.sum(hint * n, axis=1, keepdims=True) * n
        flat = np.linalg.norm(u0, axis=1) < 1.0e-6
        if np.any(flat):  # hint along the normal: fall back to the horizontal convention
            u0[flat] = symbol_frames(n[flat])[:, :, 0]
    u0 = u0 - np.sum(u0 * n, axis=1, keepdims=True) * n
    u0 /= np.linalg.norm(u0, axis=1, keepdims=True)
    w0 = np.cross(n, u0)
    r = np.broadcast_to(np.asarray(rolls, dtype=np.float64), (len(n),))[:, None]
    u = np.cos(r) * u0 + np.sin(r) * w0
    w = np.cross(n, u)
    return np.stack([u, w, n], axis=2)


@dataclass(frozen=True)
class OrientationGrid:
    """An equal-area grid of directions: rows of equal steps in z = sin(elevation), columns of equal azimuth.

    Every cell covers the same solid angle, so the grid is an even sampling of the sphere and, drawn on an
    equal-area map, each cell gets the same area. Each direction is combined with ``rotations`` in-plane
    turns over [0, 180) degrees (the model is symmetric under a half turn of the symbol).
    """

    rows: int
    cols: int
    rotations: int

    @property
    def z_edges(self) -> np.ndarray:
        return np.linspace(-1.0, 1.0, self.rows + 1)

    @property
    def lon_edges(self) -> np.ndarray:
        return np.linspace(-math.pi, math.pi, self.cols + 1)

    @property
    def lat_edges(self) -> np.ndarray:
        return np.arcsin(np.clip(self.z_edges, -1.0, 1.0))

    @property
    def lon(self) -> np.ndarray:
        e = self.lon_edges
        return 0.5 * (e[:-1] + e[1:])

    @property
    def lat(self) -> np.ndarray:
        e = self.z_edges
        return np.arcsin(0.5 * (e[:-1] + e[1:]))

    @property
    def rolls(self) -> np.ndarray:
        return np.arange(self.rotations) * (math.pi / self.rotations)

    def normals(self) -> np.ndarray:
        """(rows, cols, 3) unit directions at the cell centres (azimuth from +X towards +Y)."""
        lat, lon = np.meshgrid(self.lat, self.lon, indexing="ij")
        return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=-1)

    def frames(self) -> np.ndarray:
        """(rows, cols, rotations, 3, 3) symbol rotations of every sample."""
        n = np.repeat(self.normals().reshape(-1, 3), self.rotations, axis=0)
        r = np.tile(self.rolls, self.rows * self.cols)
        return symbol_frames(n, r).reshape(self.rows, self.cols, self.rotations, 3, 3)


def orientation_grid(resolution: int, rotations: int) -> OrientationGrid:
    """``resolution`` azimuth columns by resolution / 2 elevation rows (equal-area cells)."""
    if resolution < 4 or resolution % 2:
        raise SwbError(f"the sphere resolution must be an even number of at least 4, got {resolution}",
                       attribute="resolution", hint="e.g. --resolution 64")
    if rotations < 1:
        raise SwbError(f"at least one in-plane rotation is needed, got {rotations}", attribute="rotations")
    return OrientationGrid(rows=resolution // 2, cols=resolution, rotations=rotations)


def direction_lon_lat(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Azimuth and elevation (radians) of directions, as the orientation grid measures them."""
    v = unit(np.asarray(v, dtype=np.float64).reshape(-1, 3))
    return np.arctan2(v[:, 1], v[:, 0]), np.arcsin(np.clip(v[:, 2], -1.0, 1.0))


@dataclass(frozen=True)
class PlaneGrid:
    """Sample points of a rectangle: centre ``origin``, axes e1, e2 in the plane, ``normal`` = e1 x e2."""

    origin: np.ndarray
    e1: np.ndarray
    e2: np.ndarray
    normal: np.ndarray
    extent: tuple[float, float]  # metres along e1, e2
    resolution: tuple[int, int]  # samples along e1, e2

    @property
    def s(self) -> np.ndarray:
        """Sample coordinates along e1 (cell centres), metres from the origin."""
        n, a = self.resolution[0], self.extent[0]
        return (np.arange(n) + 0.5) / n * a - 0.5 * a

    @property
    def t(self) -> np.ndarray:
        n, b = self.resolution[1], self.extent[1]
        return (np.arange(n) + 0.5) / n * b - 0.5 * b

    def points(self) -> np.ndarray:
        """(n_t, n_s, 3): row j at t[j], column i at s[i]."""
        t, s = np.meshgrid(self.t, self.s, indexing="ij")
        return self.origin + s[..., None] * self.e1 + t[..., None] * self.e2

    def coordinates(self, p: np.ndarray) -> np.ndarray:
        """(s, t) plane coordinates of world points (n, 3)."""
        d = np.asarray(p, dtype=np.float64).reshape(-1, 3) - self.origin
        return np.stack([d @ self.e1, d @ self.e2], axis=1)


def plane_grid(origin: np.ndarray, normal: np.ndarray, extent: tuple[float, float],
               resolution: tuple[int, int], u_axis: np.ndarray | None = None) -> PlaneGrid:
    """A plane of sample points; e1 follows ``u_axis`` projected into the plane (default: horizontal)."""
    ext = tuple(float(x) for x in extent)
    if len(ext) != 2 or not all(math.isfinite(x) and x > 0.0 for x in ext):
        raise SwbError(f"the plane extent must be two positive lengths, got {list(extent)}", attribute="extent")
    res = tuple(int(x) for x in resolution)
    if len(res) != 2 or min(res) < 1:
        raise SwbError(f"the plane resolution must be two counts >= 1, got {list(resolution)}",
                       attribute="resolution")
    origin = np.asarray(origin, dtype=np.float64).reshape(3)
    if not np.all(np.isfinite(origin)):
        raise SwbError(f"the plane origin must be finite, got {origin.tolist()}", attribute="origin")
    frame = symbol_frames(normal, 0.0, u_hint=u_axis)[0]
    return PlaneGrid(origin=origin, e1=frame[:, 0], e2=frame[:, 1], normal=frame[:, 2],
                     extent=ext, resolution=res)  # type: ignore[arg-type]


def surface_frames(normals: np.ndarray, camera_x: np.ndarray, camera_y: np.ndarray) -> np.ndarray:
    """Symbols lying on surfaces: normal = the surface normal, u = camera x projected into the surface."""
    n = np.asarray(normals, dtype=np.float64).reshape(-1, 3)
    u = np.broadcast_to(np.asarray(camera_x, dtype=np.float64), n.shape) - (n @ camera_x)[:, None] * n
    flat = np.linalg.norm(u, axis=1) < 1.0e-6
    if np.any(flat):  # the surface is edge-on to camera x: take camera y instead
        u[flat] = camera_y - (n[flat] @ camera_y)[:, None] * n[flat]
    return symbol_frames(n, 0.0, u_hint=u)
