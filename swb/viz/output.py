"""Writing pictures: PNG files (matplotlib, Agg, no pyplot state) and a USD visualisation layer.

The layer holds only SWB's overlay, under /SWB/Viz/<mode>, in SWB's world frame (metres, Z up) below one
transform back into the stage's units and up axis; geometry carries ``primvars:displayColor`` per vertex.
Next to it a small preview stage stacks the layer over the scene, so a USD viewer shows both. Every file is
written under a temporary name and renamed into place; the same inputs give byte-identical files.
"""

from __future__ import annotations

import colorsys
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pxr import Gf, Sdf, Usd, UsdGeom, Vt

from ..engine.model import CameraModel, TargetModel
from ..engine.profiles import FACTORS
from ..errors import SwbError
from ..stage.layers import copy_stage_metadata, export_atomic, open_layer, with_stage_metadata, write_bytes_atomic
from ..stage.units import stage_to_world
from .probes import ProbeSymbol, direction_lon_lat
from .results import PlaneResult, ProjectionResult, SphereResult, ViewResult

if TYPE_CHECKING:
    from ..simulation import Simulation

VIZ_ROOT = Sdf.Path("/SWB/Viz")
NOT_DECODABLE = (0.74, 0.74, 0.74)
NO_HIT = (0.12, 0.12, 0.14)
DECODES = (0.17, 0.63, 0.17)
FAILS = (0.84, 0.15, 0.16)
SKY_TOP = (0.93, 0.95, 0.98)
SKY_BOTTOM = (0.78, 0.80, 0.84)
SCORE_CMAP = "viridis"
PPM_CMAP = "magma"
# Limiting factor code -> colour (0: decodes).
FACTOR_COLOURS: dict[int, tuple[float, float, float]] = {
    0: DECODES,
    1: (0.86, 0.86, 0.86),  # fov
    2: (0.55, 0.34, 0.29),  # occluded
    3: (0.30, 0.30, 0.30),  # backfacing
    4: (0.12, 0.47, 0.71),  # resolution
    5: (0.58, 0.40, 0.74),  # defocus
    6: (1.00, 0.50, 0.05),  # motion
    7: (0.89, 0.47, 0.76),  # angle
    8: (0.74, 0.74, 0.13),  # glare
    9: (0.09, 0.75, 0.81),  # exposure
}
FACTOR_LABELS = ["decodes", *FACTORS]


# ----------------------------------------------------------------------------------------------- colours


def cmap(name: str):  # noqa: ANN201 - matplotlib Colormap
    import matplotlib

    return matplotlib.colormaps[name]


def score_colours(score: np.ndarray, decodable: np.ndarray) -> np.ndarray:
    """RGB per value: the score colour map where it decodes, light grey where it does not."""
    rgb = cmap(SCORE_CMAP)(np.clip(np.asarray(score, dtype=np.float64), 0.0, 1.0))[..., :3]
    rgb[~np.asarray(decodable, dtype=bool)] = NOT_DECODABLE
    return rgb


def factor_colours(limiting: np.ndarray) -> np.ndarray:
    table = np.array([FACTOR_COLOURS[k] for k in range(len(FACTOR_COLOURS))])
    return table[np.clip(np.asarray(limiting, dtype=np.int64), 0, len(table) - 1)]


def ppm_norm(ppm: np.ndarray) -> tuple[float, float]:
    """Colour range for pixels per module: 0 to the 99th percentile of what is computable (at least 1)."""
    vals = np.asarray(ppm, dtype=np.float64)
    vals = vals[np.isfinite(vals) & (vals > 0.0)]
    top = float(np.percentile(vals, 99.0)) if vals.size else 1.0
    return 0.0, max(top, 1.0)


def ppm_colours(ppm: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    lo, hi = ppm_norm(ppm if valid is None else np.asarray(ppm)[valid])
    rgb = cmap(PPM_CMAP)(np.clip((np.asarray(ppm, dtype=np.float64) - lo) / (hi - lo), 0.0, 1.0))[..., :3]
    if valid is not None:
        rgb[~np.asarray(valid, dtype=bool)] = NOT_DECODABLE
    return rgb


def camera_colour(i: int) -> tuple[float, float, float]:
    """A distinct colour per camera index (tab10, then golden-ratio hues)."""
    if i < 10:
        return tuple(cmap("tab10")(i)[:3])  # type: ignore[return-value]
    return colorsys.hsv_to_rgb((0.13 + 0.618034 * i) % 1.0, 0.75, 0.85)


def camera_colours(best: np.ndarray) -> np.ndarray:
    """RGB per best-camera index; -1 (none decodes) is grey."""
    best = np.asarray(best, dtype=np.int64)
    rgb = np.empty((*best.shape, 3))
    rgb[...] = NOT_DECODABLE
    for i in np.unique(best[best >= 0]):
        rgb[best == i] = camera_colour(int(i))
    return rgb


def part_colours(n: int) -> np.ndarray:
    """Muted colours per part index, from a hash of the index (golden-ratio hue steps)."""
    i = np.arange(n)
    hues = (0.57 + 0.618033988749895 * ((i * 2654435761) % 4294967296) / 4294967296 * 7.0) % 1.0
    sats = 0.22 + 0.18 * ((i * 40503) % 7) / 6.0
    return np.array([colorsys.hsv_to_rgb(h, s, 0.82) for h, s in zip(hues, sats, strict=True)]).reshape(-1, 3)


def short_name(path: str) -> str:
    return path.rsplit("/", 1)[-1] or path


# ------------------------------------------------------------------------------------------------ files


def new_figure(width_px: int, height_px: int, dpi: int = 100):  # noqa: ANN201 - matplotlib Figure
    """A figure of exactly width_px x height_px pixels, not tied to pyplot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path: Path) -> tuple[int, int]:  # noqa: ANN001
    """Write a figure as PNG (no timestamp or version metadata); returns its (width, height) in pixels."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi, metadata={"Software": None})
    write_bytes_atomic(Path(path), buf.getvalue())
    w, h = fig.canvas.get_width_height()
    return int(w), int(h)


def legend_handles(colours: Sequence[tuple[float, float, float]], labels: Sequence[str]):  # noqa: ANN201
    from matplotlib.patches import Patch

    return [Patch(facecolor=c, edgecolor="0.3", linewidth=0.5, label=lab)
            for c, lab in zip(colours, labels, strict=True)]


def factor_legend(ax, present: np.ndarray, **kwargs) -> None:  # noqa: ANN001
    """A legend of the limiting factors that occur (always including 'decodes')."""
    codes = sorted({0, *(int(c) for c in np.unique(present))})
    ax.legend(handles=legend_handles([FACTOR_COLOURS[c] for c in codes], [FACTOR_LABELS[c] for c in codes]),
              **kwargs)


# -------------------------------------------------------------------------------------------------- USD


class VizLayer:
    """Overlay geometry for one mode, in SWB world metres (Z up), placed into the stage's units and axes."""

    def __init__(self, mode: str, meters_per_unit: float, up_axis: str) -> None:
        self.mode = mode
        self.stage = Usd.Stage.CreateInMemory(f"swb_viz_{mode}.usda")
        UsdGeom.SetStageMetersPerUnit(self.stage, meters_per_unit)
        UsdGeom.SetStageUpAxis(self.stage, UsdGeom.Tokens.y if up_axis == "Y" else UsdGeom.Tokens.z)
        self.stage.DefinePrim(VIZ_ROOT.GetParentPath())
        root = UsdGeom.Xform.Define(self.stage, VIZ_ROOT)
        world_to_stage = np.linalg.inv(stage_to_world(meters_per_unit, up_axis))
        root.AddTransformOp().Set(Gf.Matrix4d(world_to_stage.T.tolist()))
        self.base = VIZ_ROOT.AppendChild(mode)
        UsdGeom.Scope.Define(self.stage, self.base)
        self.stage.GetRootLayer().customLayerData = {"swb": {"visualisation": mode}}

    def _path(self, name: str) -> Sdf.Path:
        return self.base.AppendChild(name)

    @staticmethod
    def _colours(gprim: UsdGeom.Gprim, rgb: np.ndarray, interpolation: str = UsdGeom.Tokens.vertex) -> None:
        pv = gprim.CreateDisplayColorPrimvar(interpolation)
        pv.Set(Vt.Vec3fArray.FromNumpy(np.ascontiguousarray(rgb, dtype=np.float32).reshape(-1, 3)))

    @staticmethod
    def _extent(gprim: UsdGeom.Boundable, pts: np.ndarray) -> None:
        if len(pts):
            lo, hi = pts.min(axis=0), pts.max(axis=0)
            gprim.CreateExtentAttr(Vt.Vec3fArray([Gf.Vec3f(*map(float, lo)), Gf.Vec3f(*map(float, hi))]))

    def mesh(self, name: str, points: np.ndarray, counts: np.ndarray, indices: np.ndarray,
             rgb: np.ndarray) -> None:
        """A mesh with one colour per vertex (double-sided, so it reads from either side)."""
        pts = np.ascontiguousarray(points, dtype=np.float32).reshape(-1, 3)
        m = UsdGeom.Mesh.Define(self.stage, self._path(name))
        m.CreatePointsAttr(Vt.Vec3fArray.FromNumpy(pts))
        m.CreateFaceVertexCountsAttr(Vt.IntArray.FromNumpy(np.asarray(counts, dtype=np.int32).ravel()))
        m.CreateFaceVertexIndicesAttr(Vt.IntArray.FromNumpy(np.asarray(indices, dtype=np.int32).ravel()))
        m.CreateSubdivisionSchemeAttr(UsdGeom.Tokens.none)
        m.CreateDoubleSidedAttr(True)
        self._extent(m, pts)
        self._colours(m, rgb)

    def points(self, name: str, points: np.ndarray, widths: np.ndarray, rgb: np.ndarray) -> None:
        pts = np.ascontiguousarray(points, dtype=np.float32).reshape(-1, 3)
        p = UsdGeom.Points.Define(self.stage, self._path(name))
        p.CreatePointsAttr(Vt.Vec3fArray.FromNumpy(pts))
        p.CreateWidthsAttr(Vt.FloatArray.FromNumpy(np.ascontiguousarray(widths, dtype=np.float32).ravel()))
        p.SetWidthsInterpolation(UsdGeom.Tokens.vertex)
        self._extent(p, pts)
        self._colours(p, rgb)

    def lines(self, name: str, points: np.ndarray, counts: np.ndarray, rgb: np.ndarray, width: float) -> None:
        """Linear polylines (``counts`` points each), coloured per vertex."""
        pts = np.ascontiguousarray(points, dtype=np.float32).reshape(-1, 3)
        c = UsdGeom.BasisCurves.Define(self.stage, self._path(name))
        c.CreateTypeAttr(UsdGeom.Tokens.linear)
        c.CreatePointsAttr(Vt.Vec3fArray.FromNumpy(pts))
        c.CreateCurveVertexCountsAttr(Vt.IntArray.FromNumpy(np.asarray(counts, dtype=np.int32).ravel()))
        c.CreateWidthsAttr(Vt.FloatArray([float(width)]))
        c.SetWidthsInterpolation(UsdGeom.Tokens.constant)
        self._extent(c, pts)
        self._colours(c, rgb)

    def write(self, layer_path: Path, preview_path: Path, scene_path: Path) -> None:
        """Export the overlay layer, then a preview stage that stacks it over the scene (relative paths)."""
        layer_path, preview_path = Path(layer_path), Path(preview_path)
        preview = Sdf.Layer.CreateAnonymous("preview.usda")
        try:
            copy_stage_metadata(open_layer(scene_path), preview)
        except SwbError:
            pass  # the scene moved away since it was opened: the overlay layer alone is still valid
        export_atomic(with_stage_metadata(self.stage.GetRootLayer(), preview), layer_path)
        preview.subLayerPaths = [_relative(layer_path, preview_path.parent), _relative(scene_path,
                                                                                     preview_path.parent)]
        preview.customLayerData = {"swb": {"visualisation": self.mode, "overlay": layer_path.name}}
        export_atomic(preview, preview_path)


def _relative(path: Path, start: Path) -> str:
    try:
        rel = os.path.relpath(Path(path).resolve(), Path(start).resolve())
    except ValueError:  # another drive (Windows)
        return str(Path(path).resolve())
    return rel if rel.startswith("..") else f"./{rel}"


def grid_mesh(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quads over an (rows, cols, 3) grid of points: (points, counts, indices), vertices in row-major order."""
    rows, cols = points.shape[:2]
    idx = np.arange(rows * cols).reshape(rows, cols)
    quads = np.stack([idx[:-1, :-1], idx[:-1, 1:], idx[1:, 1:], idx[1:, :-1]], axis=-1).reshape(-1, 4)
    return points.reshape(-1, 3), np.full(len(quads), 4, np.int32), quads.ravel()


def sphere_mesh(centre: np.ndarray, normals: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray,
                                                                                 np.ndarray]:
    """A closed sphere through the (rows, cols, 3) grid directions, wrapping in azimuth, with pole caps.

    Vertices: the grid in row-major order, then the south and the north pole. Faces wind counter-clockwise
    seen from outside (USD's right-handed default).
    """
    rows, cols = normals.shape[:2]
    idx = np.arange(rows * cols).reshape(rows, cols)
    nxt = np.roll(idx, -1, axis=1)
    quads = np.stack([idx[:-1], nxt[:-1], nxt[1:], idx[1:]], axis=-1).reshape(-1, 4)
    south, north = rows * cols, rows * cols + 1
    s_tris = np.stack([np.full(cols, south), nxt[0], idx[0]], axis=-1)
    n_tris = np.stack([np.full(cols, north), idx[-1], nxt[-1]], axis=-1)
    dirs = np.concatenate([normals.reshape(-1, 3), [[0.0, 0.0, -1.0], [0.0, 0.0, 1.0]]])
    counts = np.concatenate([np.full(len(quads), 4), np.full(2 * cols, 3)]).astype(np.int32)
    indices = np.concatenate([quads.ravel(), s_tris.ravel(), n_tris.ravel()])
    return np.asarray(centre) + radius * dirs, counts, indices


def sphere_vertex_colours(rgb: np.ndarray) -> np.ndarray:
    """Colours of sphere_mesh's vertices from (rows, cols, 3) cell colours (poles: mean of the nearest row)."""
    return np.concatenate([rgb.reshape(-1, 3), rgb[0].mean(axis=0, keepdims=True),
                           rgb[-1].mean(axis=0, keepdims=True)])


# ----------------------------------------------------------------------------------------- the pictures


@dataclass(frozen=True)
class SceneInfo:
    """What the writers need to know about the scene: where it is, its units, its cameras."""

    label: str  # the scene name a title shows
    scene_path: Path
    meters_per_unit: float
    up_axis: str
    cameras: tuple[CameraModel, ...]

    def layer(self, mode: str) -> VizLayer:
        return VizLayer(mode, self.meters_per_unit, self.up_axis)


def scene_info(sim: Simulation, label: str) -> SceneInfo:
    return SceneInfo(label=label, scene_path=sim.scene_path, meters_per_unit=float(sim.scene.meters_per_unit),
                     up_axis=sim.scene.up_axis, cameras=tuple(sim.scene.cameras))


def output_paths(out_dir: Path, name: str) -> dict[str, Path]:
    """<name>.png, the overlay <name>.viz.usda and the preview stage <name>.usda (overlay over the scene)."""
    out_dir = Path(out_dir)
    return {"png": out_dir / f"{name}.png", "layer": out_dir / f"{name}.viz.usda", "stage": out_dir / f"{name}.usda"}


def quantity_colours(quantity: str, score: np.ndarray, decodable: np.ndarray, limiting: np.ndarray,
                     ppm: np.ndarray) -> np.ndarray:
    if quantity == "limiting":
        return factor_colours(limiting)
    if quantity == "ppm":
        return ppm_colours(ppm, ppm > 0.0)
    return score_colours(score, decodable)


def _colour_key(fig, ax, quantity: str, limiting: np.ndarray, ppm: np.ndarray, rect) -> None:  # noqa: ANN001
    """Colour bar (score, ppm) or legend (limiting) beside a picture."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    if quantity == "limiting":
        factor_legend(ax, limiting, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
        return
    if quantity == "ppm":
        lo, hi = ppm_norm(ppm[ppm > 0.0])
        sm = ScalarMappable(Normalize(lo, hi), cmap(PPM_CMAP))
        text = "pixels per module (worst axis, best camera; grey: no camera sees it)"
    else:
        sm = ScalarMappable(Normalize(0.0, 1.0), cmap(SCORE_CMAP))
        text = "score (grey: not decodable)"
    cax = fig.add_axes(rect)
    fig.colorbar(sm, cax=cax).set_label(text, fontsize=8)
    cax.tick_params(labelsize=7)


def note_nothing_decodes(fig, res) -> None:  # noqa: ANN001 - matplotlib Figure, VizResult
    """An all-grey picture says why, across its middle."""
    why = res.nothing_decodes()
    if why is None:
        return
    import textwrap

    fig.text(0.5, 0.5, textwrap.fill(why[0].upper() + why[1:], 70), ha="center", va="center", fontsize=13,
             color=(0.55, 0.05, 0.05), bbox={"facecolor": "white", "alpha": 0.9, "edgecolor": (0.55, 0.05, 0.05),
                                             "boxstyle": "round,pad=0.6"})


def _who(cameras: list[str] | None, everyone: str) -> str:
    return everyone if cameras is None else ", ".join(short_name(c) for c in cameras)


def _map_mesh(lon_edges: np.ndarray, z_edges: np.ndarray, step: float = np.radians(2.0)):  # noqa: ANN202
    """Cell edges for drawing an orientation grid on a map: each cell split into pieces of at most ``step`` so
    straight drawn edges follow the map's curved meridians and parallels (poles pulled in by a hair, where
    Mollweide has no width). Returns (lon, lat) edge meshes and the row / column of the grid each piece shows."""
    def refine(edges: np.ndarray, angles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pieces = np.maximum(1, np.ceil(np.abs(np.diff(angles)) / step).astype(int))
        fine = [np.linspace(edges[k], edges[k + 1], pieces[k] + 1)[:-1] for k in range(len(pieces))]
        return np.concatenate([*fine, edges[-1:]]), np.repeat(np.arange(len(pieces)), pieces)

    lat_edges = np.arcsin(np.clip(z_edges, -1.0, 1.0))
    lat_fine, rows = refine(lat_edges, lat_edges)
    lon_fine, cols = refine(lon_edges, lon_edges)
    lat_fine = np.clip(lat_fine, -0.5 * np.pi + 1e-4, 0.5 * np.pi - 1e-4)
    lon_e, lat_e = np.meshgrid(lon_fine, lat_fine)
    return lon_e, lat_e, rows, cols


def write_sphere(res: SphereResult, info: SceneInfo, sym: ProbeSymbol, radius_m: float, out_dir: Path) -> None:
    """Sphere overlay (vertex colours: score or best camera) and the equal-area orientation map."""
    from matplotlib.colors import BoundaryNorm, ListedColormap

    params, grid = res.parameters, res.grid
    files = output_paths(out_dir, params["name"])
    by_camera = params["quantity"] == "camera"
    rgb = camera_colours(res.best_camera) if by_camera else score_colours(res.score, res.decodable_fraction > 0)
    layer = info.layer("sphere")
    pts, counts, idx = sphere_mesh(res.point, res.normals, radius_m)
    layer.mesh("Sphere", pts, counts, idx, sphere_vertex_colours(rgb))
    layer.write(files["layer"], files["stage"], info.scene_path)

    fig = new_figure(1400, 640)
    where = ", ".join(f"{x:.3g}" for x in params["point"])
    fig.text(0.5, 0.95, f"{info.label}: every orientation of a {sym.describe()} at ({where}) - "
             f"{_who(params['cameras'], 'all cameras')}", ha="center", fontsize=12)
    fig.text(0.5, 0.91, "equal-area (Mollweide) map of the symbol's normal: azimuth from +X, elevation from the "
             f"horizontal; {grid.rotations} in-plane rotations per normal; dots: directions to the cameras",
             ha="center", fontsize=8.5, color="0.3")
    lon_e, lat_e, rows, cols = _map_mesh(grid.lon_edges, grid.z_edges)
    ax1 = fig.add_axes((0.03, 0.2, 0.45, 0.58), projection="mollweide")
    ax2 = fig.add_axes((0.52, 0.2, 0.45, 0.58), projection="mollweide")
    for ax in (ax1, ax2):
        ax.set_facecolor(NOT_DECODABLE)
        ax.grid(True, alpha=0.35, linewidth=0.5)
        ax.tick_params(labelsize=7, colors="0.35")
    below = {"loc": "upper center", "bbox_to_anchor": (0.5, -0.08), "ncol": 5, "fontsize": 8, "frameon": False}
    if by_camera:
        n = len(info.cameras)
        ax1.pcolormesh(lon_e, lat_e, np.ma.masked_less(res.best_camera[rows][:, cols], 0), shading="flat",
                       cmap=ListedColormap([camera_colour(i) for i in range(n)]),
                       norm=BoundaryNorm(np.arange(n + 1) - 0.5, n))
        present = sorted(int(c) for c in np.unique(res.best_camera) if c >= 0)
        ax1.legend(handles=legend_handles([camera_colour(c) for c in present] + [NOT_DECODABLE],
                                          [short_name(info.cameras[c].path) for c in present] + ["none decodes"]),
                   **below)
        ax1.set_title("camera decoding the most in-plane rotations", fontsize=10, pad=16)
    else:
        masked = np.ma.masked_where(res.decodable_fraction <= 0.0, res.score)[rows][:, cols]
        mesh = ax1.pcolormesh(lon_e, lat_e, masked, cmap=SCORE_CMAP, vmin=0.0, vmax=1.0, shading="flat")
        cax = fig.add_axes((0.1, 0.11, 0.31, 0.025))
        fig.colorbar(mesh, cax=cax, orientation="horizontal").set_label(
            f"score ({params['reduce']} over in-plane rotations; grey: never decodes)", fontsize=8)
        cax.tick_params(labelsize=7)
        ax1.set_title("decodability score", fontsize=10, pad=16)
    table = [FACTOR_COLOURS[k] for k in range(len(FACTOR_COLOURS))]
    ax2.pcolormesh(lon_e, lat_e, res.limiting[rows][:, cols], cmap=ListedColormap(table),
                   norm=BoundaryNorm(np.arange(len(table) + 1) - 0.5, len(table)), shading="flat")
    ax2.set_title("limiting factor (worst in-plane rotation)", fontsize=10, pad=16)
    factor_legend(ax2, res.limiting, **below)
    for path in res.camera_paths:
        i = next(k for k, c in enumerate(info.cameras) if c.path == path)
        d = np.asarray(info.cameras[i].position, np.float64) - res.point
        if np.linalg.norm(d) < 1e-9:
            continue
        lon, lat = direction_lon_lat(d)
        for ax in (ax1, ax2):
            ax.plot(lon, lat, marker="o", markersize=6, color=camera_colour(i), markeredgecolor="black",
                    markeredgewidth=0.8, linestyle="none")
            ax.annotate(short_name(path), (float(lon[0]), float(lat[0])), xytext=(4, 4),
                        textcoords="offset points", fontsize=7)
    note_nothing_decodes(fig, res)
    res.png_size = save_figure(fig, files["png"])
    res.files = files


def write_plane(res: PlaneResult, info: SceneInfo, sym: ProbeSymbol, cams: list[int], out_dir: Path) -> None:
    """Grid overlay coloured by the chosen quantity and a heat map over the plane with the cameras marked."""
    params, grid = res.parameters, res.grid
    assert grid is not None
    files = output_paths(out_dir, params["name"])
    q = params["quantity"]
    rgb = quantity_colours(q, res.score, res.decodable, res.limiting, res.ppm)
    layer = info.layer("plane")
    if min(res.points.shape[:2]) >= 2:
        pts, counts, idx = grid_mesh(res.points)
        layer.mesh("Grid", pts, counts, idx, rgb.reshape(-1, 3))
    else:  # a single row or column: points
        cell = max(grid.extent[0] / grid.resolution[0], grid.extent[1] / grid.resolution[1])
        layer.points("Grid", res.points.reshape(-1, 3), np.full(res.points[..., 0].size, cell), rgb.reshape(-1, 3))
    layer.write(files["layer"], files["stage"], info.scene_path)

    fig = new_figure(1000, 800)
    ax = fig.add_axes((0.08, 0.2, 0.66, 0.68))
    s0, s1 = -0.5 * grid.extent[0], 0.5 * grid.extent[0]
    t0, t1 = -0.5 * grid.extent[1], 0.5 * grid.extent[1]
    ax.imshow(rgb, origin="lower", extent=(s0, s1, t0, t1), interpolation="nearest")
    ax.plot([s0, s1, s1, s0, s0], [t0, t0, t1, t1, t0], color="0.2", linewidth=0.8)
    xs, ys = [s0, s1], [t0, t1]
    size = max(grid.extent)
    marks = []
    for i in cams:
        cam = info.cameras[i]
        st = grid.coordinates(cam.position)[0]
        height = float((np.asarray(cam.position) - grid.origin) @ grid.normal)
        fwd = cam.forward
        f2 = np.array([fwd @ grid.e1, fwd @ grid.e2])
        colour = camera_colour(i)
        if np.linalg.norm(f2) > 1e-6:
            tip = st + 0.12 * size * f2
            ax.annotate("", xy=(tip[0], tip[1]), xytext=(st[0], st[1]),
                        arrowprops={"arrowstyle": "->", "color": colour, "linewidth": 1.2})
            xs.append(float(tip[0]))
            ys.append(float(tip[1]))
        marks += ax.plot(st[0], st[1], marker="^" if height >= 0 else "v", markersize=8, color=colour,
                         markeredgecolor="black", markeredgewidth=0.8, linestyle="none",
                         label=f"{short_name(cam.path)} ({height:+.2f} m)")
        xs.append(float(st[0]))
        ys.append(float(st[1]))
    fig.legend(handles=marks, loc="lower center", bbox_to_anchor=(0.41, 0.005), ncol=4, fontsize=8, frameon=False,
               title="cameras (height above the plane; arrow: viewing direction)", title_fontsize=8)
    pad = 0.05 * size
    ax.set_xlim(min(xs) - pad, max(xs) + pad)
    ax.set_ylim(min(ys) - pad, max(ys) + pad)
    ax.set_aspect("equal")
    ax.set_xlabel("metres along ({})".format(", ".join(f"{v:.2f}" for v in grid.e1)), fontsize=8)
    ax.set_ylabel("metres along ({})".format(", ".join(f"{v:.2f}" for v in grid.e2)), fontsize=8)
    ax.tick_params(labelsize=7)
    where = ", ".join(f"{x:.3g}" for x in params["origin"])
    fig.text(0.5, 0.95, f"{info.label}: {q} of a {sym.describe()} over a plane at ({where}) - "
             f"{_who(params['cameras'], 'best of all cameras')}", ha="center", fontsize=11)
    nrm = ", ".join(f"{v:.2f}" for v in res.rotation[:, 2])
    fig.text(0.5, 0.915, f"every cell holds the symbol facing ({nrm}); values of the best camera per cell",
             ha="center", fontsize=8, color="0.3")
    _colour_key(fig, ax, q, res.limiting, res.ppm, (0.8, 0.2, 0.022, 0.68))
    note_nothing_decodes(fig, res)
    res.png_size = save_figure(fig, files["png"])
    res.files = files


def write_projection(res: ProjectionResult, info: SceneInfo, cam: CameraModel, sym: ProbeSymbol,
                     out_dir: Path) -> None:
    """Coloured points on the hit surfaces, and the picture as the camera sees it."""
    params = res.parameters
    files = output_paths(out_dir, params["name"])
    q = params["quantity"]
    hit = res.hit
    rgb = quantity_colours(q, res.score, res.decodable, res.limiting, res.ppm)
    layer = info.layer("projection")
    width = res.distance[hit] * float(params["stride"]) / cam.fx  # one grid cell's footprint
    layer.points("Hits", res.points[hit] + 1.0e-3 * res.normals[hit], width, rgb[hit])
    layer.write(files["layer"], files["stage"], info.scene_path)

    # Shade by the angle to the camera so the shape of the station stays readable.
    rot = np.asarray(cam.rotation, dtype=np.float64)
    x, y = np.meshgrid((res.us - cam.cx) / cam.fx, (cam.cy - res.vs) / cam.fy)
    rays = np.stack([x, y, -np.ones_like(x)], axis=-1) @ rot.T
    rays /= np.linalg.norm(rays, axis=-1, keepdims=True)
    lit = 0.45 + 0.55 * np.abs(np.sum(res.normals * rays, axis=-1))
    if hit.any():  # and darken with distance, so parallel faces at different heights differ
        near, far = float(res.distance[hit].min()), float(res.distance[hit].max())
        lit *= 1.0 - 0.4 * np.clip((res.distance - near) / max(far - near, 1e-6), 0.0, 1.0)
    img = rgb * lit[..., None]
    img[~hit] = NO_HIT
    fig = new_figure(1000, 720)
    ax = fig.add_axes((0.06, 0.08, 0.74, 0.8))
    ax.imshow(img, extent=(0, cam.width, cam.height, 0), interpolation="nearest")
    ax.set_xlabel("pixel u", fontsize=8)
    ax.set_ylabel("pixel v", fontsize=8)
    ax.tick_params(labelsize=7)
    judge = "best of all cameras" if params["all_cameras"] else "this camera"
    fig.text(0.5, 0.95, f"{info.label}: seen from {short_name(res.camera)} - {q} of a {sym.describe()} lying "
             "on each surface", ha="center", fontsize=11)
    fig.text(0.5, 0.915, f"one ray every {params['stride']} pixels, judged by {judge}; dark: no surface",
             ha="center", fontsize=8, color="0.3")
    _colour_key(fig, ax, q, res.limiting[hit], res.ppm[hit], (0.83, 0.08, 0.022, 0.8))
    note_nothing_decodes(fig, res)
    res.png_size = save_figure(fig, files["png"])
    res.files = files


def _project(vcam: CameraModel, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixel coordinates, depth (camera -Z) and distance of world points seen by vcam."""
    rot, pos = np.asarray(vcam.rotation, np.float64), np.asarray(vcam.position, np.float64)
    q = (pts - pos) @ rot
    d = -q[:, 2]
    safe = np.where(d > 1e-6, d, 1.0)
    uv = np.stack([vcam.cx + vcam.fx * q[:, 0] / safe, vcam.cy - vcam.fy * q[:, 1] / safe], axis=1)
    return uv, d, np.linalg.norm(pts - pos, axis=1)


def visible_runs(vcam: CameraModel, depth: np.ndarray, seg: np.ndarray, n: int = 96):  # noqa: ANN201
    """Pieces of a 3-D segment in front of the view camera, split where the depth buffer hides them:
    yields (pixel points (k, 2), visible)."""
    t = np.linspace(0.0, 1.0, n)
    uv, d, dist = _project(vcam, seg[0] + t[:, None] * (seg[1] - seg[0]))
    front = d > 1e-3
    h, w = depth.shape
    iu = np.clip(np.floor(uv[:, 0]).astype(np.int64), 0, w - 1)
    iv = np.clip(np.floor(uv[:, 1]).astype(np.int64), 0, h - 1)
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
    buf = depth[iv, iu]
    seen = ~inside | (buf <= 0.0) | (dist <= buf * 1.01 + 0.01)
    start = 0
    for k in range(1, n + 1):
        if k == n or front[k] != front[start] or seen[k] != seen[start]:
            if front[start] and k - start >= 2:
                yield uv[start:k], bool(seen[start])
            start = k


def _mark_targets(ax, vcam: CameraModel, depth: np.ndarray, targets: Sequence[TargetModel],  # noqa: ANN001
                  colours: np.ndarray, size: float) -> None:
    """A ring around every target so small labels still show their colour: filled where the target is in
    sight, hollow where something hides it."""
    if not targets:
        return
    uv, d, dist = _project(vcam, np.array([np.asarray(t.position, np.float64) for t in targets]))
    h, w = depth.shape
    for k in range(len(targets)):
        u, v = uv[k]
        if d[k] <= 1e-3 or not (0 <= u < w and 0 <= v < h):
            continue
        buf = depth[int(v), int(u)]
        seen = buf <= 0.0 or dist[k] <= buf * 1.01 + 0.01
        colour = tuple(float(c) for c in colours[k])
        ax.plot(u, v, marker="o", markersize=size, linestyle="none", markeredgewidth=1.2,
                markerfacecolor=colour if seen else "none", markeredgecolor="white" if seen else colour,
                alpha=1.0 if seen else 0.7)


def _view_colours(res: ViewResult) -> np.ndarray:
    if res.target_colours.shape == (len(res.target_decodable), 3):
        return res.target_colours
    return np.where(res.target_decodable[:, None], DECODES, FAILS)


def _view_key(res: ViewResult) -> list:
    """Legend entries for the target colours of a view picture."""
    n_dec = int(np.sum(res.target_decodable))
    n_fail = len(res.target_decodable) - n_dec
    if res.color_by == "limiting":
        codes = sorted({int(c) for c in res.target_values})
        return legend_handles([FACTOR_COLOURS[c] for c in codes],
                              [f"target: {FACTOR_LABELS[c]} ({int(np.sum(res.target_values == c))})" for c in codes])
    if res.color_by == "score":
        vals = [0.0, 0.5, 1.0]
        return legend_handles([*(tuple(cmap(SCORE_CMAP)(v)[:3]) for v in vals), NOT_DECODABLE],
                              [*(f"score {v:.1f}" for v in vals), f"target not decodable ({n_fail})"])
    if res.color_by == "ppm":
        lo, hi = ppm_norm(res.target_values[res.target_values > 0.0])
        vals = [lo, 0.5 * (lo + hi), hi]
        return legend_handles([*(tuple(cmap(PPM_CMAP)((v - lo) / (hi - lo))[:3]) for v in vals), NOT_DECODABLE],
                              [*(f"{v:.1f} pixels per module" for v in vals), "no camera sees it"])
    return legend_handles([DECODES, FAILS], [f"target decodes ({n_dec})", f"target fails ({n_fail})"])


def write_view(res: ViewResult, info: SceneInfo, targets: Sequence[TargetModel], from_camera: int | None,
               out_dir: Path) -> None:
    """The rendered picture with frusta (dashed where hidden) and a legend; frusta and status-coloured
    target rectangles as the USD overlay."""
    from matplotlib.lines import Line2D

    params, vcam = res.parameters, res.view_camera
    assert vcam is not None
    files = output_paths(out_dir, params["name"])
    w, h = int(vcam.width), int(vcam.height)
    fig = new_figure(w, h)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.imshow(np.clip(res.image, 0.0, 1.0), extent=(0, w, h, 0), interpolation="nearest")
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.axis("off")
    lw = max(1.0, w / 900.0)
    handles: list = []
    for i, segs in res.frusta:
        colour = camera_colour(i)
        for seg in segs:
            for uv, seen in visible_runs(vcam, res.depth, seg):
                ax.plot(uv[:, 0], uv[:, 1], color=colour, linewidth=lw if seen else 0.7 * lw,
                        linestyle="-" if seen else (0, (2, 2)), alpha=1.0 if seen else 0.6)
        handles.append(Line2D([], [], color=colour, linewidth=2, label=short_name(info.cameras[i].path)))
    colours = _view_colours(res)
    _mark_targets(ax, vcam, res.depth, targets, colours, 3.0 * lw)
    keys = _view_key(res)
    handles += keys
    font = max(6.0, min(10.0, w / 140.0))
    if w < 640:  # a small picture keeps its pixels: the target colours only, no camera names
        handles = keys
    ax.legend(handles=handles, loc="lower left", fontsize=font, framealpha=0.85, ncol=1 + len(handles) // 9)
    where = "three-quarter view" if from_camera is None else f"from {short_name(info.cameras[from_camera].path)}"
    judged = "any camera" if from_camera is None else "this camera"
    ax.text(0.01 * w, 0.01 * h, f"{info.label}: {where}; targets judged by {judged}", fontsize=font, color="0.1",
            va="top", bbox={"facecolor": "white", "alpha": 0.75, "edgecolor": "none", "pad": 2})
    note_nothing_decodes(fig, res)
    res.png_size = save_figure(fig, files["png"])

    layer = info.layer("view")
    if res.frusta:
        pts = np.concatenate([segs.reshape(-1, 3) for _, segs in res.frusta])
        rgb = np.concatenate([np.tile(camera_colour(i), (2 * len(segs), 1)) for i, segs in res.frusta])
        layer.lines("Frusta", pts, np.full(len(pts) // 2, 2), rgb, width=0.004)
    if targets:
        corners = np.array([(-1, -1, 0), (1, -1, 0), (1, 1, 0), (-1, 1, 0)], np.float64)
        quads = []
        for t in targets:
            rot = np.asarray(t.rotation, np.float64)
            half = np.array([*(0.5 * np.asarray(t.size_with_quiet_zone)), 0.0])
            quads.append(np.asarray(t.position) + 5e-4 * rot[:, 2] + (corners * half) @ rot.T)
        rgb = np.repeat(colours, 4, axis=0)
        n = len(targets)
        layer.mesh("Targets", np.concatenate(quads), np.full(n, 4), np.arange(4 * n), rgb)
    layer.write(files["layer"], files["stage"], info.scene_path)
    res.files = files
