"""A large synthetic sorting station built directly as swb.engine.model objects (no USD), for benchmarks and tests.

Conveyor lines run along world X with gantries of four cameras each (top-down, one per side, one oblique looking
along the line), racks along both long walls, and parcels on the belts and on the shelves. Labels (mixed
symbologies, 1-D and 2-D, various module sizes and in-plane rotations) sit on parcel faces and rack beams; belt
parcels move with the belt. All geometry is finely tessellated, with one cell size solved for so the station
reaches the requested triangle count. The result is deterministic for a given seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import SwbError
from .model import CameraModel, MeshPart, Scene, TargetModel
from .profiles import is_linear

BELT_TOP = 0.8  # metres above the floor
BELT_WIDTH = 1.2
GANTRY_PITCH = 2.5  # metres between gantries along a line
LINE_PITCH = 5.5  # metres between line centres
LABEL_CELL = 0.12  # metres: one symbol (with its quiet zone) per cell of a face; shrunk when labels are many
LABEL_LIFT = 5e-4  # metres: labels sit this far above the surface they are stuck on
CAMERAS_PER_GANTRY = 4
PROFILE_CYCLE = ("industrial", "engine", "robust")

# Symbology mix: (name, weight, module sizes (min, max) in metres, module counts per axis).
_SYMBOLOGY_MIX: tuple[tuple[str, float, tuple[float, float], tuple[tuple[int, ...], tuple[int, ...]]], ...] = (
    ("code128", 0.28, (0.33e-3, 0.5e-3), (tuple(11 * k + 35 for k in range(6, 11)), (1,))),
    ("code39", 0.05, (0.33e-3, 0.45e-3), (tuple(16 * k + 25 for k in range(5, 9)), (1,))),
    ("ean13", 0.06, (0.33e-3, 0.5e-3), ((95,), (1,))),
    ("upca", 0.04, (0.33e-3, 0.5e-3), ((95,), (1,))),
    ("itf", 0.05, (0.4e-3, 0.6e-3), ((135,), (1,))),
    ("pdf417", 0.10, (0.33e-3, 0.45e-3), (tuple(17 * c + 69 for c in range(2, 6)), tuple(range(18, 61, 6)))),
    ("datamatrix", 0.20, (0.5e-3, 1.0e-3), ((12, 14, 16, 18, 20, 22, 24, 26, 32, 36, 40, 44), ())),
    ("qrcode", 0.15, (0.5e-3, 1.0e-3), (tuple(range(21, 58, 4)), ())),
    ("aztec", 0.07, (0.5e-3, 1.0e-3), ((15, 19, 23, 27, 31, 37, 41, 45), ())),
)


# ----------------------------------------------------------------------------------------------------------
# Tessellated primitives


def _box_divisions(extents: np.ndarray, cell: np.ndarray) -> np.ndarray:
    return np.clip(np.ceil(extents / cell[..., None]), 1, 4096).astype(np.int64)


def _box_triangle_count(extents: np.ndarray, cell: np.ndarray) -> int:
    d = _box_divisions(extents, cell)
    return int((4 * (d[:, 0] * d[:, 1] + d[:, 1] * d[:, 2] + d[:, 0] * d[:, 2])).sum())


def _cyl_sections(radius: np.ndarray, cell: np.ndarray) -> np.ndarray:
    return np.clip(np.ceil(2 * np.pi * radius / cell), 8, 512).astype(np.int64)


def _cyl_triangle_count(radius: np.ndarray, length: np.ndarray, cell: np.ndarray) -> int:
    s = _cyl_sections(radius, cell)
    dl = np.clip(np.ceil(length / cell), 1, 4096).astype(np.int64)
    return int((2 * s * dl + 2 * s).sum())


def box_mesh(extents: tuple[float, float, float], divisions: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Closed box centred on the origin, each face a grid of quads; outward-facing counter-clockwise triangles."""
    half = 0.5 * np.asarray(extents, dtype=np.float64)
    pts, tris, base = [], [], 0
    for k in range(3):
        i, j = (k + 1) % 3, (k + 2) % 3  # e_i x e_j = e_k
        ni, nj = int(divisions[i]), int(divisions[j])
        a = np.linspace(-half[i], half[i], ni + 1)
        b = np.linspace(-half[j], half[j], nj + 1)
        A, Bg = np.meshgrid(a, b, indexing="ij")
        ia, ib = np.meshgrid(np.arange(ni), np.arange(nj), indexing="ij")
        v00 = (ia * (nj + 1) + ib).ravel()
        v10, v01 = v00 + nj + 1, v00 + 1
        v11 = v10 + 1
        for sign in (1.0, -1.0):
            p = np.empty((A.size, 3))
            p[:, i], p[:, j], p[:, k] = A.ravel(), Bg.ravel(), sign * half[k]
            t = np.concatenate([np.stack([v00, v10, v11], 1), np.stack([v00, v11, v01], 1)])
            if sign < 0:
                t = t[:, ::-1]
            pts.append(p)
            tris.append(t + base)
            base += len(p)
    return np.concatenate(pts), np.concatenate(tris)


def cylinder_mesh(radius: float, length: float, sections: int, divisions: int) -> tuple[np.ndarray, np.ndarray]:
    """Closed cylinder along local Z centred on the origin: side rings plus two capped fans."""
    ang = np.linspace(0.0, 2 * np.pi, sections, endpoint=False)
    zs = np.linspace(-0.5 * length, 0.5 * length, divisions + 1)
    ring = np.stack([radius * np.cos(ang), radius * np.sin(ang)], 1)
    side = np.concatenate([np.column_stack([ring, np.full(sections, z)]) for z in zs])
    r, s = np.meshgrid(np.arange(divisions), np.arange(sections), indexing="ij")
    a = (r * sections + s).ravel()
    b = (r * sections + (s + 1) % sections).ravel()
    c, d = a + sections, b + sections
    tris = [np.stack([a, b, d], 1), np.stack([a, d, c], 1)]
    n_side = len(side)
    centres = np.array([[0, 0, -0.5 * length], [0, 0, 0.5 * length]])
    s1 = np.arange(sections)
    s2 = (s1 + 1) % sections
    top = divisions * sections
    tris.append(np.stack([np.full(sections, n_side), s2, s1], 1))  # bottom cap faces -Z
    tris.append(np.stack([np.full(sections, n_side + 1), top + s1, top + s2], 1))
    return np.concatenate([side, centres]), np.concatenate(tris)


def _translate(x: float, y: float, z: float) -> np.ndarray:
    m = np.eye(4)
    m[:3, 3] = (x, y, z)
    return m


def _rot_z(yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _pose(rotation: np.ndarray, position: tuple[float, float, float]) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = rotation
    m[:3, 3] = position
    return m


@dataclass
class _PartSpec:
    """A part to tessellate later: boxes and cylinders in the part frame, and a detail multiplier."""

    path: str
    to_world: np.ndarray
    coarseness: float  # cell size = coarseness * global cell
    boxes: list[tuple[tuple[float, float, float], np.ndarray]] = field(default_factory=list)
    cylinders: list[tuple[float, float, np.ndarray]] = field(default_factory=list)  # radius, length, pose

    def box(self, extents: tuple[float, float, float], centre: tuple[float, float, float]) -> None:
        self.boxes.append((extents, _translate(*centre)))


def _count(specs: list[_PartSpec], cell: float) -> int:
    box_ext = np.array([b[0] for s in specs for b in s.boxes], dtype=np.float64).reshape(-1, 3)
    box_cell = np.array([cell * s.coarseness for s in specs for _ in s.boxes])
    cyl = np.array([(c[0], c[1]) for s in specs for c in s.cylinders], dtype=np.float64).reshape(-1, 2)
    cyl_cell = np.array([cell * s.coarseness for s in specs for _ in s.cylinders])
    return _box_triangle_count(box_ext, box_cell) + _cyl_triangle_count(cyl[:, 0], cyl[:, 1], cyl_cell)


def _solve_cell(specs: list[_PartSpec], n_triangles: int) -> float:
    """Largest global cell size whose tessellation reaches n_triangles (bisection on log cell size)."""
    lo, hi = 1e-4, 100.0
    if _count(specs, lo) < n_triangles:
        raise SwbError(
            f"cannot tessellate the station to {n_triangles} triangles",
            hint="ask for fewer triangles or more cameras/targets",
        )
    if _count(specs, hi) >= n_triangles:
        return hi
    for _ in range(50):
        mid = math.sqrt(lo * hi)
        if _count(specs, mid) >= n_triangles:
            lo = mid
        else:
            hi = mid
    return lo


def _build_part(spec: _PartSpec, cell: float) -> MeshPart:
    c = cell * spec.coarseness
    pts, tris, base = [], [], 0
    for extents, pose in spec.boxes:
        d = _box_divisions(np.asarray(extents, dtype=np.float64)[None], np.array([c]))[0]
        p, t = box_mesh(extents, tuple(d))
        pts.append(p @ pose[:3, :3].T + pose[:3, 3])
        tris.append(t + base)
        base += len(p)
    for radius, length, pose in spec.cylinders:
        s = int(_cyl_sections(np.array([radius]), np.array([c]))[0])
        dl = int(np.clip(math.ceil(length / c), 1, 4096))
        p, t = cylinder_mesh(radius, length, s, dl)
        pts.append(p @ pose[:3, :3].T + pose[:3, 3])
        tris.append(t + base)
        base += len(p)
    return MeshPart(
        path=spec.path,
        points=np.concatenate(pts).astype(np.float32),
        triangles=np.concatenate(tris).astype(np.int32),
        to_world=spec.to_world,
    )


# ----------------------------------------------------------------------------------------------------------
# Labels


@dataclass
class _Slot:
    """A cell on a face where one label may go: world centre, face frame (u, w, normal), cell size, velocity."""

    path: str
    centre: np.ndarray
    frame: np.ndarray  # columns u_face, w_face, normal (right-handed)
    size: tuple[float, float]
    velocity: np.ndarray


def _face_slots(path: str, to_world: np.ndarray, extents: np.ndarray, faces: list[np.ndarray],
                velocity: np.ndarray, cell: float) -> list[_Slot]:
    """Label cells on the given outward face normals (local axis vectors) of a box centred in its frame."""
    R, t = to_world[:3, :3], to_world[:3, 3]
    slots = []
    for n in faces:
        k = int(np.argmax(np.abs(n)))
        i, j = (k + 1) % 3, (k + 2) % 3
        if n[k] < 0:
            i, j = j, i  # keep e_i x e_j = n
        u_l, w_l = np.eye(3)[i], np.eye(3)[j]
        a, b = extents[i], extents[j]
        na, nb = max(1, int(a // cell)), max(1, int(b // cell))
        ca, cb = a / na, b / nb
        frame = R @ np.column_stack([u_l, w_l, n])
        for ia in range(na):
            for ib in range(nb):
                local = (
                    0.5 * extents[k] * n
                    + (-0.5 * a + (ia + 0.5) * ca) * u_l
                    + (-0.5 * b + (ib + 0.5) * cb) * w_l
                )
                slots.append(_Slot(f"{path}/Label", R @ local + t, frame, (ca, cb), velocity))
    return slots


def _make_label(slot: _Slot, path: str, rng: np.random.Generator) -> TargetModel:
    weights = np.array([m[1] for m in _SYMBOLOGY_MIX])
    name, _, (x_lo, x_hi), (cols, rows) = _SYMBOLOGY_MIX[rng.choice(len(_SYMBOLOGY_MIX), p=weights / weights.sum())]
    X = float(rng.uniform(x_lo, x_hi))
    n_cols = int(rng.choice(cols))
    linear = is_linear(name)
    if name == "pdf417":
        n_rows = int(rng.choice(rows))
    else:
        n_rows = 1 if linear else n_cols
    bar_height_modules = float(rng.uniform(0.15, 0.35)) * n_cols if linear else None
    target = TargetModel(path, np.eye(3), np.zeros(3), name, X, (n_cols, n_rows))
    qz = target.quiet_zone_modules
    length_m = n_cols + 2 * qz
    height_m = bar_height_modules if linear else n_rows + 2 * qz
    # In-plane rotation: mostly square to the parcel edges, some askew.
    theta = float(rng.choice([0.0, 0.5, 1.0, 1.5]) * math.pi)
    if rng.random() < 0.3:
        theta += float(rng.uniform(-0.5, 0.5))
    c, s = abs(math.cos(theta)), abs(math.sin(theta))
    ext_a = X * (c * length_m + s * height_m)
    ext_b = X * (s * length_m + c * height_m)
    fit = min(1.0, 0.9 * slot.size[0] / ext_a, 0.9 * slot.size[1] / ext_b)
    X *= fit
    ct, st = math.cos(theta), math.sin(theta)
    u = ct * slot.frame[:, 0] + st * slot.frame[:, 1]
    w = -st * slot.frame[:, 0] + ct * slot.frame[:, 1]
    n = slot.frame[:, 2]
    return TargetModel(
        path=path,
        rotation=np.column_stack([u, w, n]),
        position=slot.centre + LABEL_LIFT * n,
        symbology=name,
        module_size=X,
        modules=(n_cols, n_rows),
        bar_height=bar_height_modules * X if linear else None,
        velocity=slot.velocity.copy(),
    )


# ----------------------------------------------------------------------------------------------------------
# Cameras


def _look_rotation(forward: np.ndarray, up_hint: np.ndarray) -> np.ndarray:
    """Camera -> world rotation: camera -Z along forward, camera +Y as close to up_hint as possible."""
    f = forward / np.linalg.norm(forward)
    x = np.cross(f, up_hint)
    x /= np.linalg.norm(x)
    z = -f
    y = np.cross(z, x)
    return np.column_stack([x, y, z])


def _sensor(kind: str) -> tuple[int, int, float]:
    """(width, height, pixel pitch) of a few common machine-vision sensors."""
    return {
        "25mp": (5120, 5120, 4.5e-6),
        "12mp": (4096, 3000, 3.45e-6),
        "20mp": (5472, 3648, 2.4e-6),
    }[kind]


def _camera(path: str, rotation: np.ndarray, position: tuple[float, float, float], sensor: str, focal: float, *,
            f_number: float, focus: float, mode: str, exposure: float, profile: str, max_tilt: float,
            wavelength: float) -> CameraModel:
    w, h, p = _sensor(sensor)
    return CameraModel(
        path=path,
        rotation=rotation,
        position=np.asarray(position, dtype=np.float64),
        width=w,
        height=h,
        focal_length=focal,
        aperture=(w * p, h * p),
        f_number=f_number,
        focus_distance=focus,
        focus_mode=mode,
        focus_range=(0.4, 4.0),
        exposure=exposure,
        clipping=(0.05, 60.0),
        decoder_profile=profile,
        max_tilt_deg=max_tilt,
        wavelength=wavelength,
    )


def _gantry_cameras(prefix: str, x: float, y: float, g: int, rng: np.random.Generator) -> list[CameraModel]:
    """Top-down, left, right and oblique cameras of one gantry; profiles, lenses and optics vary by gantry."""
    profile = PROFILE_CYCLE[g % len(PROFILE_CYCLE)]
    ex, ez = np.eye(3)[0], np.eye(3)[2]
    wl = 850e-9 if g % 4 == 3 else 625e-9
    tilt = float(rng.choice([55.0, 60.0, 65.0, 70.0]))
    pitch = math.radians(10.0)
    along = 1.0 if g % 2 == 0 else -1.0
    down = math.radians(35.0)
    oblique = np.array([along * math.cos(down), 0.0, -math.sin(down)])
    side = {"sensor": "12mp", "f_number": 8.0, "focus": 1.1, "mode": "fixed", "exposure": 150e-6}
    common = {"profile": profile, "max_tilt": tilt, "wavelength": wl}
    return [
        _camera(f"{prefix}/CamTop", _look_rotation(-ez, ex), (x, y, BELT_TOP + 1.9), "25mp",
                float(rng.choice([25e-3, 35e-3])), f_number=4.0, focus=1.5, mode="autofocus",
                exposure=100e-6, **common),
        _camera(f"{prefix}/CamLeft", _look_rotation(np.array([0, -math.cos(pitch), -math.sin(pitch)]), ez),
                (x, y + 1.35, BELT_TOP + 0.45), focal=16e-3, **side, **common),
        _camera(f"{prefix}/CamRight", _look_rotation(np.array([0, math.cos(pitch), -math.sin(pitch)]), ez),
                (x, y - 1.35, BELT_TOP + 0.45), focal=float(rng.choice([12e-3, 16e-3])),
                **{**side, "f_number": 0.0}, **common),
        _camera(f"{prefix}/CamOblique", _look_rotation(oblique, ez), (x - along * 0.3, y, BELT_TOP + 2.6),
                "20mp", 25e-3, f_number=4.0, focus=3.0, mode="autofocus", exposure=300e-6, **common),
    ]


# ----------------------------------------------------------------------------------------------------------
# The station


def _parcel_dims(rng: np.random.Generator, max_width: float) -> np.ndarray:
    return np.array([rng.uniform(0.2, 0.6), rng.uniform(0.2, max_width), rng.uniform(0.12, 0.6)])


def generate_station(
    n_triangles: int = 1_000_000, n_cameras: int = 64, n_targets: int = 10_000, seed: int = 0
) -> Scene:
    """A deterministic warehouse sorting station with at least n_triangles triangles, n_cameras cameras and
    n_targets labels (see the module docstring for the layout)."""
    if n_cameras < 1 or n_targets < 1 or n_triangles < 1:
        raise SwbError("generate_station needs at least one camera, one target and one triangle")
    rng = np.random.default_rng(seed)
    n_gantries = math.ceil(n_cameras / CAMERAS_PER_GANTRY)
    n_lines = 1 if n_gantries < 4 else 2
    per_line = math.ceil(n_gantries / n_lines)
    length = per_line * GANTRY_PITCH + 3.0
    line_y = [(j - 0.5 * (n_lines - 1)) * LINE_PITCH for j in range(n_lines)]
    rack_y = (line_y[0] - 3.6, line_y[-1] + 3.6)  # rack front faces look at the lines

    specs: list[_PartSpec] = []
    cameras: list[CameraModel] = []
    conveyor_faces: list[tuple] = []  # _face_slots arguments but the cell size
    rack_faces: list[tuple] = []
    beam_slots: list[_Slot] = []

    floor = _PartSpec("/World/Floor", np.eye(4), coarseness=25.0)
    floor.box((length + 8.0, rack_y[1] - rack_y[0] + 4.0, 0.05), (0.5 * length, 0.0, -0.025))
    specs.append(floor)

    g_index = 0
    for j, y in enumerate(line_y):
        line = f"/World/Line{j}"
        belt = _PartSpec(f"{line}/Conveyor", _translate(0.5 * length, y, 0.0), coarseness=4.0)
        belt.box((length, BELT_WIDTH, 0.06), (0.0, 0.0, BELT_TOP - 0.03))
        for side in (-1.0, 1.0):  # side guards just above the belt
            belt.box((length, 0.04, 0.16), (0.0, side * (0.5 * BELT_WIDTH + 0.03), BELT_TOP - 0.02))
            for xl in np.arange(-0.5 * length + 0.5, 0.5 * length, 2.0):
                belt.box((0.06, 0.06, BELT_TOP - 0.1), (xl, side * 0.5 * BELT_WIDTH, 0.5 * (BELT_TOP - 0.1)))
        specs.append(belt)
        rollers = _PartSpec(f"{line}/Rollers", _translate(0.5 * length, y, 0.0), coarseness=1.5)
        roll_pose = np.eye(4)
        roll_pose[:3, :3] = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])  # cylinder Z -> world Y
        for xr in np.arange(-0.5 * length + 0.06, 0.5 * length, 0.12):
            pose = roll_pose.copy()
            pose[:3, 3] = (xr, 0.0, BELT_TOP - 0.09)
            rollers.cylinders.append((0.03, BELT_WIDTH - 0.02, pose))
        specs.append(rollers)

        speed = float(rng.uniform(1.5, 2.5)) * (1.0 if j % 2 == 0 else -1.0)
        for g in range(per_line):
            if g_index >= n_gantries:
                break
            xg = 1.5 + (g + 0.5) * GANTRY_PITCH
            gpath = f"{line}/Gantry{g}"
            gantry = _PartSpec(gpath, _translate(xg, y, 0.0), coarseness=4.0)
            for side in (-1.0, 1.0):
                gantry.box((0.12, 0.12, BELT_TOP + 2.9), (0.0, side * 1.75, 0.5 * (BELT_TOP + 2.9)))
                gantry.box((0.08, 0.08, 0.4), (0.0, side * 1.35, BELT_TOP + 0.75))  # side camera bracket
            gantry.box((0.15, 3.62, 0.15), (0.0, 0.0, BELT_TOP + 2.9))
            specs.append(gantry)
            cameras.extend(_gantry_cameras(gpath, xg, y, g_index, rng))
            g_index += 1

        # Parcels on the belt: two lanes, packed with small gaps, slightly skewed.
        for lane, ly in enumerate((-0.3, 0.3)):
            x = 0.1 + float(rng.uniform(0.0, 0.3))
            k = 0
            while True:
                dims = _parcel_dims(rng, 0.42)
                if x + dims[0] > length - 0.1:
                    break
                yaw = float(rng.uniform(-0.12, 0.12))
                to_world = _pose(_rot_z(yaw), (x + 0.5 * dims[0], y + ly, BELT_TOP + 0.5 * dims[2]))
                ppath = f"{line}/Parcel{lane}_{k}"
                parcel = _PartSpec(ppath, to_world, coarseness=1.0)
                parcel.box(tuple(dims), (0.0, 0.0, 0.0))
                specs.append(parcel)
                faces = [np.array(v, dtype=np.float64) for v in
                         ((0, 0, 1), (1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0))]
                conveyor_faces.append((ppath, to_world, dims, faces, np.array([speed, 0.0, 0.0])))
                x += dims[0] + float(rng.uniform(0.05, 0.3))
                k += 1

    # Racks along both long walls, four shelf levels, parcels showing one face (and beam labels) to the aisle.
    bay_len = 2.7
    n_bays = max(1, int(length // bay_len))
    levels = (0.15, 0.85, 1.55, 2.25)
    for r, ry in enumerate(rack_y):
        face_dir = 1.0 if r == 0 else -1.0  # +y for the rack on the -y side
        for b in range(n_bays):
            bpath = f"/World/Rack{r}/Bay{b}"
            bx = (b + 0.5) * bay_len + 0.5 * (length - n_bays * bay_len)
            bay = _PartSpec(bpath, _translate(bx, ry - face_dir * 0.4, 0.0), coarseness=4.0)
            for sx in (-1.0, 1.0):
                for sy in (-1.0, 1.0):
                    bay.box((0.08, 0.08, 3.0), (sx * 0.5 * bay_len, sy * 0.4, 1.5))
            for lz in levels:
                bay.box((bay_len, 0.8, 0.03), (0.0, 0.0, lz))
                bay.box((bay_len, 0.05, 0.1), (0.0, face_dir * 0.42, lz - 0.05))  # front beam
            specs.append(bay)
            beam_frame = np.column_stack([[-face_dir, 0, 0], [0, 0, 1.0], [0, face_dir, 0]])
            for lz in levels:
                for sx in np.linspace(-0.4 * bay_len, 0.4 * bay_len, 4):
                    centre = np.array([bx + sx, ry - face_dir * 0.4 + face_dir * 0.445, lz - 0.05])
                    beam_slots.append(_Slot(f"{bpath}/Beam", centre, beam_frame, (0.12, 0.1), np.zeros(3)))
                x = -0.5 * bay_len + 0.1
                k = 0
                while True:
                    dims = np.array([rng.uniform(0.25, 0.6), rng.uniform(0.3, 0.6), rng.uniform(0.15, 0.55)])
                    if x + dims[0] > 0.5 * bay_len - 0.1:
                        break
                    centre = (bx + x + 0.5 * dims[0], ry - face_dir * 0.4 + face_dir * (0.4 - 0.5 * dims[1] - 0.03),
                              lz + 0.015 + 0.5 * dims[2])
                    ppath = f"{bpath}/Parcel{int(lz * 100)}_{k}"
                    parcel = _PartSpec(ppath, _pose(np.eye(3), centre), coarseness=1.0)
                    parcel.box(tuple(dims), (0.0, 0.0, 0.0))
                    specs.append(parcel)
                    rack_faces.append((ppath, parcel.to_world, dims, [np.array([0.0, face_dir, 0.0])], np.zeros(3)))
                    x += dims[0] + float(rng.uniform(0.05, 0.2))
                    k += 1

    cameras = cameras[:n_cameras]
    cell = LABEL_CELL
    while True:  # smaller label cells until every label finds a place
        conveyor_slots = [s for f in conveyor_faces for s in _face_slots(*f, cell)]
        rack_slots = beam_slots + [s for f in rack_faces for s in _face_slots(*f, cell)]
        if len(conveyor_slots) + len(rack_slots) >= n_targets or cell < 0.03:
            break
        cell *= 0.9
    targets = _place_labels(conveyor_slots, rack_slots, n_targets, rng)
    mesh_cell = _solve_cell(specs, n_triangles)
    parts = [_build_part(s, mesh_cell) for s in specs]
    return Scene(source=f"generated:station(seed={seed})", cameras=cameras, targets=targets, parts=parts)


def _place_labels(conveyor: list[_Slot], rack: list[_Slot], n_targets: int,
                  rng: np.random.Generator) -> list[TargetModel]:
    """Three quarters of the labels on belt parcels, the rest in the racks (spilling over when one runs out)."""
    if len(conveyor) + len(rack) < n_targets:
        raise SwbError(
            f"the generated station has room for {len(conveyor) + len(rack)} labels, {n_targets} were asked",
            hint="ask for fewer targets or more cameras (a longer station)",
        )
    n_conv = min(len(conveyor), max(n_targets - len(rack), round(0.75 * n_targets)))
    chosen = [conveyor[i] for i in np.sort(rng.choice(len(conveyor), n_conv, replace=False))]
    chosen += [rack[i] for i in np.sort(rng.choice(len(rack), n_targets - n_conv, replace=False))]
    counts: dict[str, int] = {}
    targets = []
    for slot in chosen:
        k = counts.get(slot.path, 0)
        counts[slot.path] = k + 1
        targets.append(_make_label(slot, f"{slot.path}{k}", rng))
    return targets
