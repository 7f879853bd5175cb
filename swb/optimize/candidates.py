"""Candidate cameras: positions in the mount regions x aims at the labels x catalogue options, as kernel records.

Positions: boxes are filled by a Latin hypercube, mesh surfaces (a gantry frame given by prim path) by
area-weighted points on their triangles, lifted ``offset`` along the face normal; keep-out boxes reject points.
Regions share the candidates equally. Aims: each candidate looks at one label sample (drawn uniformly), upright
(image top towards the stage's up axis, or +Y when looking straight down), then turned by one of ``rolls``.
Options: every sensor x lens x f-number x exposure of the catalogue, cycled so each option gets its share. A
fixed-focus candidate focuses at its aim distance.

Records are built the way the loader derives them from authored attributes (float attributes rounded to float32
first), so an applied design reloads to the same records.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from ..engine.model import CameraModel, Scene
from ..engine.world import pack_cameras
from ..errors import SwbError
from ..sweep.candidates import StageFrame
from ..sweep.sampling import unit_samples
from .passes import PassSet
from .spec import M_BOX_MIN, M_SURFACES, DesignSpec, MountSpec

CLIPPING_M = (0.01, 1000.0)
_MAX_DRAWS = 64  # rounds of rejection sampling against keep-out boxes before a region counts as empty


def f32(x: np.ndarray | float) -> np.ndarray:
    return np.asarray(x, dtype=np.float32).astype(np.float64)


@dataclass(frozen=True)
class Option:
    """One catalogue choice: a sensor with a lens at one f-number and one exposure."""

    sensor: int
    lens: int
    f_stop: float
    exposure: float
    label: str
    cost: float
    frame_rate: float
    focus_mode: str
    focal_length_m: float


@dataclass
class Candidates:
    """A batch of candidate cameras (float64 poses in SI metres, Z up) and their kernel records."""

    records: np.ndarray  # (n,) Camera records
    rotation: np.ndarray  # (n, 3, 3) camera -> world
    position: np.ndarray  # (n, 3)
    option: np.ndarray  # (n,) int index into CandidateFactory.options
    region: np.ndarray  # (n,) int index into the mount regions
    focus: np.ndarray  # (n,) metres (what the authored float attribute gives back)
    origin: list[str] = field(default_factory=list)  # per candidate: how it was made

    @property
    def n(self) -> int:
        return int(len(self.records))

    def take(self, idx: np.ndarray | list[int]) -> Candidates:
        i = np.asarray(idx, dtype=np.int64)
        return Candidates(self.records[i].copy(), self.rotation[i].copy(), self.position[i].copy(),
                          self.option[i].copy(), self.region[i].copy(), self.focus[i].copy(),
                          [self.origin[k] for k in i])

    @staticmethod
    def concatenate(parts: list[Candidates]) -> Candidates:
        return Candidates(np.concatenate([p.records for p in parts]), np.concatenate([p.rotation for p in parts]),
                          np.concatenate([p.position for p in parts]), np.concatenate([p.option for p in parts]),
                          np.concatenate([p.region for p in parts]), np.concatenate([p.focus for p in parts]),
                          [o for p in parts for o in p.origin])


@dataclass
class _Surface:
    points: np.ndarray  # (m, 3, 3) triangle corners, world
    normal: np.ndarray  # (m, 3)
    cdf: np.ndarray  # (m,) cumulative area share
    tree: cKDTree | None = None  # of the triangle centroids, built on first use


def _closest_point_triangle(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Closest points of triangles (a, b, c) to points p, all (n, 3) (Ericson, Real-Time Collision Detection 5.1.5,
    vectorised: the Voronoi region of the projection decides between a vertex, an edge and the face)."""
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = np.einsum("ij,ij->i", ab, ap), np.einsum("ij,ij->i", ac, ap)
    bp, cp = p - b, p - c
    d3, d4 = np.einsum("ij,ij->i", ab, bp), np.einsum("ij,ij->i", ac, bp)
    d5, d6 = np.einsum("ij,ij->i", ab, cp), np.einsum("ij,ij->i", ac, cp)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2
    denom = va + vb + vc
    with np.errstate(divide="ignore", invalid="ignore"):
        v, w = vb / denom, vc / denom
        out = a + ab * v[:, None] + ac * w[:, None]  # inside the face
        t_ab = d1 / (d1 - d3)
        t_ac = d2 / (d2 - d6)
        t_bc = (d4 - d3) / ((d4 - d3) + (d5 - d6))
    cases = [
        (vc <= 0) & (d1 >= 0) & (d3 <= 0), a + ab * t_ab[:, None],
        (vb <= 0) & (d2 >= 0) & (d6 <= 0), a + ac * t_ac[:, None],
        (va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0), b + (c - b) * t_bc[:, None],
        (d6 >= 0) & (d5 <= d6), c,
        (d3 >= 0) & (d4 <= d3), b,
        (d1 <= 0) & (d2 <= 0), a,
    ]
    for k in range(0, len(cases), 2):
        out = np.where(cases[k][:, None], cases[k + 1], out)
    return out


def _closest_on_triangles(s: _Surface, p: np.ndarray, near: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Nearest surface point to each of p (n, 3) among the triangles with the ``near`` nearest centroids."""
    if s.tree is None:
        s.tree = cKDTree(s.points.mean(axis=1))
    k = min(near, len(s.points))
    _, idx = s.tree.query(p, k=k)
    idx = np.asarray(idx).reshape(len(p), k)
    t = s.points[idx.ravel()]
    q = _closest_point_triangle(np.repeat(p, k, axis=0), t[:, 0], t[:, 1], t[:, 2]).reshape(len(p), k, 3)
    best = np.argmin(np.linalg.norm(q - p[:, None, :], axis=2), axis=1)
    rows = np.arange(len(p))
    return q[rows, best], idx[rows, best]


def look_rotation(forward: np.ndarray, roll_deg: np.ndarray) -> np.ndarray:
    """(n, 3, 3) camera -> world rotations looking along unit ``forward`` (n, 3), upright, then rolled."""
    f = forward / np.linalg.norm(forward, axis=1, keepdims=True)
    up = np.broadcast_to(np.array([0.0, 0.0, 1.0]), f.shape).copy()
    vertical = np.abs(f[:, 2]) > 0.999
    up[vertical] = (0.0, 1.0, 0.0)
    right = np.cross(f, up)
    right /= np.linalg.norm(right, axis=1, keepdims=True)
    cam_up = np.cross(right, f)
    t = np.radians(np.asarray(roll_deg, dtype=np.float64))[:, None]
    r2 = np.cos(t) * right + np.sin(t) * cam_up
    u2 = -np.sin(t) * right + np.cos(t) * cam_up
    return np.stack([r2, u2, -f], axis=2)


class CandidateFactory:
    """Mount regions checked against the scene, the catalogue's options, and candidate records on demand."""

    def __init__(self, scene: Scene, spec: DesignSpec, frame: StageFrame, passes: PassSet) -> None:
        self.scene, self.spec, self.frame, self.passes = scene, spec, frame, passes
        self.mpu = frame.meters_per_unit
        self.options = self._options()
        self.templates = pack_cameras([self._template(o) for o in self.options], scene.source)
        self.regions = [m for m in spec.mounts if m.kind != "keepOut"]
        self.keepouts = [self._box(m) for m in spec.mounts if m.kind == "keepOut"]
        self.boxes: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.surfaces: dict[int, _Surface] = {}
        for r, m in enumerate(self.regions):
            if m.kind == "box":
                self.boxes[r] = self._box(m)
            else:
                self.surfaces[r] = self._surface(m)
        self.label_points = np.asarray(passes.samples.records["pos"], dtype=np.float64)
        self.label_normals = np.asarray(passes.samples.records["rot"], dtype=np.float64)[:, :, 2]
        self._check_regions()

    # ----- set-up
    def _where(self, m: MountSpec) -> dict[str, str | None]:
        return {"file": self.spec.source or None, "prim": m.prim or None}

    def _options(self) -> list[Option]:
        tenth = self.mpu / 10.0
        out = []
        for si, s in enumerate(self.spec.sensors):
            for li, lens in enumerate(self.spec.lenses):
                for fs in lens.f_stops:
                    for ex in s.exposures:
                        label = f"{s.name} + {lens.name} f/{fs:g}" + (f" {ex * 1e6:.0f} us" if ex > 0 else "")
                        out.append(Option(si, li, float(fs), float(ex), label, float(s.cost) + float(lens.cost),
                                          float(s.frame_rate), s.focus_mode, float(f32(lens.focal_length)) * tenth))
        return out

    def _template(self, o: Option) -> CameraModel:
        s, lens = self.spec.sensors[o.sensor], self.spec.lenses[o.lens]
        tenth = self.mpu / 10.0
        w, h = s.resolution
        ap = (float(f32(w * s.pixel_pitch)) * tenth, float(f32(h * s.pixel_pitch)) * tenth)
        near, far = (float(f32(v / self.mpu)) * self.mpu for v in CLIPPING_M)
        return CameraModel(path=f"option:{o.label}", rotation=np.eye(3), position=np.zeros(3), width=w, height=h,
                           focal_length=float(f32(lens.focal_length)) * tenth, aperture=ap,
                           f_number=float(f32(o.f_stop)), focus_distance=1.0, focus_mode=s.focus_mode,
                           exposure=float(f32(o.exposure)), clipping=(near, far), decoder_profile=s.profile)

    def _box(self, m: MountSpec) -> tuple[np.ndarray, np.ndarray]:
        assert m.box is not None
        corners = np.array([[m.box[i][0], m.box[j][1], m.box[k][2]] for i in (0, 1) for j in (0, 1) for k in (0, 1)])
        world = self.frame.vector(corners)
        return world.min(axis=0), world.max(axis=0)

    def _surface(self, m: MountSpec) -> _Surface:
        def under(path: str, prefix: str) -> bool:
            return path == prefix or path.startswith(prefix.rstrip("/") + "/")

        tris = []
        for part in self.scene.parts:
            if any(under(part.path, p) for p in m.surfaces) and len(part.triangles):
                pts = part.world_points()
                tris.append(pts[np.asarray(part.triangles, dtype=np.int64)])
        if not tris:
            raise SwbError(f"no mesh triangles under {', '.join(m.surfaces)}: the surface mount is empty",
                           **self._where(m), attribute=M_SURFACES,
                           hint="name visible mesh prims of the station (e.g. the gantry frame)")
        t = np.concatenate(tris)
        n = np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])
        area = 0.5 * np.linalg.norm(n, axis=1)
        keep = area > 1e-12
        if not np.any(keep):
            raise SwbError("the surface mount's triangles have no area", **self._where(m), attribute=M_SURFACES)
        t, n, area = t[keep], n[keep], area[keep]
        return _Surface(t, n / np.linalg.norm(n, axis=1, keepdims=True), np.cumsum(area) / area.sum())

    def _check_regions(self) -> None:
        rng = np.random.default_rng(self.spec.seed)
        for r, m in enumerate(self.regions):
            pos, _ = self._draw_region(r, 256, rng, strict=False)
            if len(pos) == 0:
                raise SwbError("the mount region lies wholly inside keep-out boxes: no camera can go there",
                               **self._where(m), attribute=M_BOX_MIN if m.kind == "box" else M_SURFACES,
                               hint="shrink the keep-out boxes or move the region")
        if self.passes.samples.n == 0:
            raise SwbError("the design counts no barcode labels", file=self.spec.source or None,
                           prim=self.spec.path or None, hint="check swb:design:labels (TOML: labels)")

    # ----- positions
    def _outside_keepouts(self, p: np.ndarray) -> np.ndarray:
        ok = np.ones(len(p), bool)
        for lo, hi in self.keepouts:
            ok &= ~np.all((p > lo) & (p < hi), axis=1)
        return ok

    def _raw_points(self, r: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """n points of region r (not yet checked against keep-outs) and their surface normals (zero in boxes)."""
        if r in self.boxes:
            lo, hi = self.boxes[r]
            u = unit_samples("lhs", n, 3, int(rng.integers(2**31)))
            return lo + u * (hi - lo), np.zeros((n, 3))
        s = self.surfaces[r]
        tri = np.minimum(np.searchsorted(s.cdf, rng.random(n)), len(s.cdf) - 1)
        a, b = rng.random(n), rng.random(n)
        flip = a + b > 1.0
        a[flip], b[flip] = 1.0 - a[flip], 1.0 - b[flip]
        t = s.points[tri]
        p = t[:, 0] + a[:, None] * (t[:, 1] - t[:, 0]) + b[:, None] * (t[:, 2] - t[:, 0])
        offset = self.regions[r].offset * self.mpu
        return p + offset * s.normal[tri], s.normal[tri]

    def _draw_region(self, r: int, n: int, rng: np.random.Generator,
                     strict: bool = True) -> tuple[np.ndarray, np.ndarray]:
        got_p, got_n, have = [], [], 0
        for _ in range(_MAX_DRAWS):
            p, nrm = self._raw_points(r, max(2 * (n - have), 16), rng)
            ok = self._outside_keepouts(p)
            got_p.append(p[ok])
            got_n.append(nrm[ok])
            have += int(ok.sum())
            if have >= n:
                break
        pos, nrm = np.concatenate(got_p)[:n], np.concatenate(got_n)[:n]
        if strict and len(pos) < n:
            m = self.regions[r]
            raise SwbError("keep-out boxes cover almost all of the mount region", **self._where(m),
                           attribute=M_BOX_MIN if m.kind == "box" else M_SURFACES)
        return pos, nrm

    def points(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """n mount points shared equally by the regions: (positions, surface normals, region index)."""
        if n <= 0:
            return np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0, np.int64)
        share = np.full(len(self.regions), n // len(self.regions))
        share[: n % len(self.regions)] += 1
        pos, nrm, reg = [], [], []
        for r, k in enumerate(share):
            if k:
                p, q = self._draw_region(r, int(k), rng)
                pos.append(p)
                nrm.append(q)
                reg.append(np.full(int(k), r))
        return np.concatenate(pos), np.concatenate(nrm), np.concatenate(reg)

    def project(self, region: np.ndarray, position: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bring moved positions back into their region (boxes: clamp; surfaces: nearest surface point, lifted);
        the second array says which ones are clear of the keep-out boxes."""
        out = position.copy()
        for r in np.unique(region):
            sel = region == r
            if r in self.boxes:
                lo, hi = self.boxes[int(r)]
                out[sel] = np.clip(position[sel], lo, hi)
            else:
                s = self.surfaces[int(r)]
                closest, tri = _closest_on_triangles(s, position[sel])
                out[sel] = closest + self.regions[int(r)].offset * self.mpu * s.normal[tri]
        return out, self._outside_keepouts(out)

    # ----- records
    def records(self, option: np.ndarray, rotation: np.ndarray, position: np.ndarray,
                focus: np.ndarray) -> np.ndarray:
        """Kernel records for these poses and options; ``focus`` in metres as authored (see ``focus_for``)."""
        rec = self.templates[np.asarray(option, dtype=np.int64)].copy()
        rec["rot"] = rotation
        rec["pos"] = position
        rec["focus_distance"] = focus
        return rec

    def focus_for(self, option: np.ndarray, distance: np.ndarray) -> np.ndarray:
        """The fixed focus a distance becomes once authored (a float attribute in scene units), kept beyond the
        focal length; autofocus cameras keep the loader's placeholder."""
        focal = np.array([self.options[int(o)].focal_length_m for o in option])
        auto = np.array([self.options[int(o)].focus_mode == "autofocus" for o in option], dtype=bool)
        d = np.maximum(np.asarray(distance, dtype=np.float64), 1.05 * focal)
        fixed = f32(d / self.mpu) * self.mpu
        return np.where(auto, CameraModel.focus_distance, fixed)

    def frame_rate(self, option: np.ndarray) -> np.ndarray:
        return np.array([self.options[int(o)].frame_rate for o in option], dtype=np.float64)

    def cost(self, option: np.ndarray) -> np.ndarray:
        return np.array([self.options[int(o)].cost for o in option], dtype=np.float64)

    def build(self, position: np.ndarray, aim: np.ndarray, option: np.ndarray, region: np.ndarray, roll: np.ndarray,
              origin: str) -> Candidates:
        """Candidates at ``position`` looking at ``aim`` (world points)."""
        forward = aim - position
        dist = np.linalg.norm(forward, axis=1)
        forward = np.where(dist[:, None] > 1e-9, forward, np.array([0.0, 0.0, -1.0]))
        rot = look_rotation(forward, roll)
        focus = self.focus_for(option, dist)
        return Candidates(self.records(option, rot, position, focus), rot, position, option.astype(np.int64),
                          region.astype(np.int64), focus, [origin] * len(position))

    def random(self, n: int, rng: np.random.Generator, origin: str = "initial") -> Candidates:
        """n candidates: mount points, each aimed at a random label sample, options cycled, rolls drawn."""
        pos, nrm, reg = self.points(n, rng)
        aim = self.label_points[rng.integers(0, len(self.label_points), n)]
        on_surface = np.linalg.norm(nrm, axis=1) > 0.0
        backwards = on_surface & (np.einsum("ij,ij->i", aim - pos, nrm) < 0.0)
        if np.any(backwards):  # a camera on a beam looks away from it: aim again at a sample in front
            for i in np.flatnonzero(backwards):
                front = np.flatnonzero((self.label_points - pos[i]) @ nrm[i] > 0.0)
                if len(front):
                    aim[i] = self.label_points[front[rng.integers(0, len(front))]]
        option = (np.arange(n) + int(rng.integers(0, len(self.options)))) % len(self.options)
        option = rng.permutation(option)
        roll = np.asarray(self.spec.rolls, dtype=np.float64)[rng.integers(0, len(self.spec.rolls), n)]
        return self.build(pos, aim, option, reg, roll, origin)

    def facing(self, samples: np.ndarray, n_try: int, rng: np.random.Generator, option: np.ndarray,
               origin: str) -> Candidates:
        """One candidate per label sample: of ``n_try`` mount points the one that sees it most squarely, aimed at it."""
        k = len(samples)
        pos, _, reg = self.points(k * n_try, rng)
        pos, reg = pos.reshape(k, n_try, 3), reg.reshape(k, n_try)
        p = self.label_points[samples][:, None, :]
        nrm = self.label_normals[samples][:, None, :]
        d = pos - p
        dist = np.linalg.norm(d, axis=2)
        cos = np.einsum("kij,kij->ki", d, np.broadcast_to(nrm, d.shape)) / np.maximum(dist, 1e-9)
        # squarely first; among similar angles the nearer (more pixels per module)
        best = np.argmax(cos - 0.05 * dist / max(float(dist.max()), 1e-9), axis=1)
        rows = np.arange(k)
        roll = np.asarray(self.spec.rolls, dtype=np.float64)[rng.integers(0, len(self.spec.rolls), k)]
        return self.build(pos[rows, best], self.label_points[samples], option, reg[rows, best], roll, origin)

    def describe(self) -> str:
        kinds = ", ".join(f"{m.name} ({m.kind})" for m in self.regions)
        return (f"{len(self.regions)} mount regions ({kinds}), {len(self.keepouts)} keep-out boxes, "
                f"{len(self.options)} catalogue options")
