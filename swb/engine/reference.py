"""Independent numpy + trimesh (Embree) implementation of the per-pair decodability model.

Written from the model spec alone (not from the Warp kernels) so the two can check each other. Everything is
vectorised over camera x target pairs in float64; the only loop is over chunks of cameras to bound memory.
Occlusion rays go through trimesh's Embree intersector on one merged world mesh of all parts. This module computes
the profile-independent metrics from the geometry (``pair_metrics``); the verdict under each camera's decoder
profile is ``swb.engine.verdict``, the one numpy implementation that the profile fitting uses too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import trimesh

from .model import CameraModel, LightModel, MeshPart, Scene, TargetModel
from .pair_results import PairResults
from .profiles import FACTORS, PROFILES, SYMBOLOGY_CODE, module_aspect
from .verdict import DecoderTerms, PairMetrics, in_view, verdict

# Occlusion sample points in units of the symbol half-size: a 3 x 3 grid (centre, 4 corners, 4 edge midpoints),
# inset 2 %, row by row: sample k at (k % 3 - 1, k // 3 - 1), so samples 3r..3r+2 form row r across u.
_INSET = 0.98
SAMPLE_POINTS: np.ndarray = _INSET * np.array([[k % 3 - 1, k // 3 - 1] for k in range(9)], dtype=np.float64)
_CORNERS: np.ndarray = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64)
# max_t = |segment| * (1 - REL) - ABS: the surface a label sits on must not hide it.
OCCLUSION_REL_EPS = 1e-4
OCCLUSION_ABS_EPS = 1e-4  # metres


def _ray_intersector(mesh: trimesh.Trimesh):
    """Embree intersector when embreex is importable (it is for the bench and tests), else trimesh's own."""
    try:
        from trimesh.ray.ray_pyembree import RayMeshIntersector
    except ImportError:  # pragma: no cover - embreex missing on exotic platforms
        from trimesh.ray.ray_triangle import RayMeshIntersector
    return RayMeshIntersector(mesh)


@dataclass
class ReferenceOcclusion:
    """The merged world mesh of every part and its ray intersector (built once, reused across calls)."""

    mesh: trimesh.Trimesh | None
    intersector: object | None

    @classmethod
    def from_parts(cls, parts: Sequence[MeshPart]) -> ReferenceOcclusion:
        verts, faces, offset = [], [], 0
        for part in parts:
            tris = np.asarray(part.triangles, dtype=np.int64).reshape(-1, 3)
            if len(tris) == 0:
                continue
            pts = part.world_points()
            verts.append(pts)
            faces.append(tris + offset)
            offset += len(pts)
        if not faces:
            return cls(None, None)
        mesh = trimesh.Trimesh(np.concatenate(verts), np.concatenate(faces), process=False, validate=False)
        return cls(mesh, _ray_intersector(mesh))

    def blocked(self, origins: np.ndarray, points: np.ndarray) -> np.ndarray:
        """Whether anything lies on each segment origin -> point, short of the point by the spec's epsilon."""
        n = len(points)
        hit = np.zeros(n, dtype=bool)
        if self.intersector is None or n == 0:
            return hit
        seg = points - origins
        length = np.linalg.norm(seg, axis=1)
        ok = length > 0
        direction = np.zeros_like(seg)
        direction[ok] = seg[ok] / length[ok, None]
        max_t = length * (1.0 - OCCLUSION_REL_EPS) - OCCLUSION_ABS_EPS
        idx = np.flatnonzero(ok & (max_t > 0))
        if len(idx) == 0:
            return hit
        locations, index_ray, _ = self.intersector.intersects_location(
            origins[idx], direction[idx], multiple_hits=False
        )
        rays = idx[index_ray]
        t = np.einsum("ij,ij->i", locations - origins[rays], direction[rays])
        hit[rays[t < max_t[rays]]] = True
        return hit


def camera_arrays(cams: Sequence[CameraModel]) -> dict[str, np.ndarray]:
    """Per-camera parameters as float64 arrays (one entry per camera)."""

    def col(fn) -> np.ndarray:
        return np.array([fn(c) for c in cams], dtype=np.float64)

    focus_lo = col(lambda c: c.focus_range[0])
    focus_hi = col(lambda c: c.focus_range[1])
    return {
        "R": np.array([np.asarray(c.rotation, np.float64) for c in cams]).reshape(-1, 3, 3),
        "pos": np.array([np.asarray(c.position, np.float64) for c in cams]).reshape(-1, 3),
        "fx": col(lambda c: c.fx),
        "fy": col(lambda c: c.fy),
        "cx": col(lambda c: c.cx),
        "cy": col(lambda c: c.cy),
        "W": col(lambda c: c.width),
        "H": col(lambda c: c.height),
        "near": col(lambda c: c.clipping[0]),
        "far": col(lambda c: c.clipping[1]),
        "f": col(lambda c: c.focal_length),
        "N": col(lambda c: c.f_number),
        "s_fixed": col(lambda c: c.focus_distance),
        "auto": np.array([c.focus_mode == "autofocus" for c in cams], dtype=bool),
        "focus_lo": focus_lo,
        "focus_hi": focus_hi,
        "exposure": col(lambda c: c.exposure),
        "pitch": col(lambda c: float(np.sqrt(c.pixel_pitch[0] * c.pixel_pitch[1]))),
        "wavelength": col(lambda c: c.wavelength),
        "max_tilt": col(lambda c: c.max_tilt_deg),
        "min_read": col(lambda c: c.min_read_probability),
        "min_exposure": col(lambda c: c.min_exposure),
        "profile": np.array([list(PROFILES).index(c.decoder_profile) for c in cams], dtype=np.int64),
    }


def target_arrays(tgts: Sequence[TargetModel]) -> dict[str, np.ndarray]:
    sizes = np.array([t.size for t in tgts], dtype=np.float64).reshape(-1, 2)
    sizes_q = np.array([t.size_with_quiet_zone for t in tgts], dtype=np.float64).reshape(-1, 2)
    return {
        "R": np.array([np.asarray(t.rotation, np.float64) for t in tgts]).reshape(-1, 3, 3),
        "pos": np.array([np.asarray(t.position, np.float64) for t in tgts]).reshape(-1, 3),
        "half": 0.5 * sizes,
        "half_q": 0.5 * sizes_q,
        "X": np.array([t.module_size for t in tgts], dtype=np.float64),
        "aspect_w": np.array([module_aspect(t.symbology) for t in tgts], dtype=np.float64),  # PDF417 rows: 3
        "linear": np.array([t.linear for t in tgts], dtype=bool),
        "aspect": sizes[:, 1] / np.maximum(sizes[:, 0], 1e-300),  # height / length
        "vel": np.array([np.asarray(t.velocity, np.float64) for t in tgts]).reshape(-1, 3),
        "symbology": np.array([t.symbology for t in tgts], dtype=object),
        "sym": np.array([SYMBOLOGY_CODE[t.symbology] for t in tgts], dtype=np.int64),
        "reflectance": np.array([t.reflectance for t in tgts], dtype=np.float64),
        "contrast": np.array([t.print_contrast for t in tgts], dtype=np.float64),
        "glossy": np.array([t.glossy for t in tgts], dtype=bool),
        "gloss": np.array([t.gloss_angle_deg for t in tgts], dtype=np.float64),
    }


# Lights (docs/model.md, rule 10): print contrast of at least 20 %; a pinhole (fStop 0) counts as f/1 for the exposure;
# strobes set the motion time when they give at least half the exposure (kernels/lighting.py, docs/lighting.md).
MIN_PRINT_CONTRAST = 0.2
PINHOLE_F_NUMBER = 1.0
STROBE_DOMINANCE = 0.5


@dataclass
class TargetLight:
    """What the lights do at each target centre, camera-independent: the illuminance (lux) each light gives while
    it is on, whether it reaches the centre (in its beam, in front of the label, not shadowed), the mirror
    direction of its ray, and the lights themselves (for their on-times during each camera's exposure)."""

    per_light: np.ndarray  # (T, L) lux while on
    reaches: np.ndarray  # (T, L) bool
    mirror: np.ndarray  # (T, L, 3) unit
    lights: Sequence[LightModel]

    @property
    def illuminance(self) -> np.ndarray:
        """(T,) lux with every light on."""
        return self.per_light.sum(axis=1)

    def on_times(self, exposure: np.ndarray) -> np.ndarray:
        """(C, L) seconds each light is on during each camera's exposure."""
        return np.array([[lt.on_time(float(t)) for lt in self.lights] for t in exposure], np.float64).reshape(
            len(exposure), len(self.lights))


def target_light(lights: Sequence[LightModel], tg: dict[str, np.ndarray], occ: ReferenceOcclusion) -> TargetLight:
    """E_l = I_l(theta) cos(i) / d^2 for the lights that reach each symbol centre (one shadow segment light ->
    centre, short of the centre by the occlusion epsilon); I_l(theta) = intensity * LightModel.pattern."""
    n_t, n_l = len(tg["X"]), len(lights)
    pos = np.array([np.asarray(lt.position, np.float64) for lt in lights]).reshape(n_l, 3)
    axis = np.array([np.asarray(lt.direction, np.float64) for lt in lights]).reshape(n_l, 3)
    axis = axis / np.linalg.norm(axis, axis=1, keepdims=True)
    intensity = np.array([lt.intensity for lt in lights], dtype=np.float64)
    seg = pos[None, :, :] - tg["pos"][:, None, :]  # (T, L, 3) centre -> light
    d2 = np.einsum("tlj,tlj->tl", seg, seg)
    with np.errstate(divide="ignore", invalid="ignore"):
        to_light = seg / np.sqrt(d2)[..., None]
    normal = tg["R"][:, :, 2]
    cos_i = np.einsum("tlj,tj->tl", to_light, normal)
    cos_off = -np.einsum("tlj,lj->tl", to_light, axis)
    shape = np.stack([lt.pattern(np.nan_to_num(cos_off[:, k])) for k, lt in enumerate(lights)], axis=1).reshape(
        n_t, n_l)
    reaches = (d2 > 0) & (intensity[None, :] > 0) & (cos_i > 0) & (shape > 0)
    ti, li = np.nonzero(reaches)
    if len(ti):
        blocked = occ.blocked(pos[li], tg["pos"][ti])
        reaches[ti[blocked], li[blocked]] = False
    with np.errstate(invalid="ignore", divide="ignore"):
        per_light = np.where(reaches, intensity[None, :] * shape * cos_i / d2, 0.0)
        mirror = 2.0 * cos_i[..., None] * normal[:, None, :] - to_light
    return TargetLight(per_light.reshape(n_t, n_l), reaches, mirror, list(lights))


def _light_margins(light: TargetLight | None, cam: dict[str, np.ndarray], tg: dict[str, np.ndarray],
                   shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(glare, exposure, motion time) (C, T): exposure H = sum_l E_l t_l rho / (4 N^2) against the sensor's
    minimum, and the print contrast against 20 %; glare = angle between the camera and a light's mirror
    direction / gloss angle; the motion time min(T, longest pulse) where strobes give half of H or more, else T."""
    exposure_time = np.broadcast_to(cam["exposure"][:, None], shape)
    if light is None:
        return np.full(shape, np.inf), np.full(shape, np.inf), np.array(exposure_time)
    n_eff = np.where(cam["N"] > 0, cam["N"], PINHOLE_F_NUMBER)
    t_on = light.on_times(cam["exposure"])  # (C, L)
    part = light.per_light[None, :, :] * t_on[:, None, :]  # (C, T, L) lux s
    dose = part.sum(axis=2)
    h = dose * tg["reflectance"][None, :] / (4.0 * n_eff**2)[:, None]
    h_min = cam["min_exposure"][:, None]
    by_signal = np.where(h_min > 0, h / np.where(h_min > 0, h_min, 1.0), np.inf)
    exposure = np.minimum(by_signal, tg["contrast"][None, :] / MIN_PRINT_CONTRAST)
    strobe = (t_on < cam["exposure"][:, None])[:, None, :] & (part > 0)  # (C, T, L)
    strobed = np.where(strobe, part, 0.0).sum(axis=2)
    pulse = np.array([lt.pulse_width if lt.pulsed else 0.0 for lt in light.lights], np.float64)
    flash = np.where(strobe, pulse[None, None, :], 0.0).max(axis=2, initial=0.0)
    dominated = (dose > 0) & (strobed >= STROBE_DOMINANCE * dose)
    motion = np.where(dominated, np.minimum(exposure_time, flash), exposure_time)
    to_cam = cam["pos"][:, None, :] - tg["pos"][None, :, :]  # (C, T, 3)
    m = light.mirror[None]  # (1, T, L, 3)
    v = to_cam[:, :, None, :]
    angle = np.degrees(np.arctan2(np.linalg.norm(np.cross(m, v), axis=-1), np.sum(m * v, axis=-1)))
    gloss = tg["gloss"][None, :, None]
    ratio = np.where(gloss > 0, angle / np.where(gloss > 0, gloss, 1.0), np.inf)
    ratio = np.where(light.reaches[None] & tg["glossy"][None, :, None], ratio, np.inf)
    glare = ratio.min(axis=2) if ratio.shape[2] else np.full(shape, np.inf)
    return glare, exposure, motion


def _planar_points(tg: dict[str, np.ndarray], offsets: np.ndarray, half: np.ndarray) -> np.ndarray:
    """World points (T, K, 3) at centre + ou * half_u * u + ow * half_w * w for each offset (K, 2)."""
    u = tg["R"][:, :, 0]
    w = tg["R"][:, :, 1]
    du = offsets[None, :, 0, None] * half[:, None, 0, None] * u[:, None, :]
    dw = offsets[None, :, 1, None] * half[:, None, 1, None] * w[:, None, :]
    return tg["pos"][:, None, :] + du + dw


def _to_camera(cam: dict[str, np.ndarray], pts: np.ndarray) -> np.ndarray:
    """Camera-frame coordinates (C, T, K, 3) of world points (T, K, 3): R^T (p - pos), as row vectors p R."""
    T, K = pts.shape[:2]
    flat = np.matmul(pts.reshape(1, T * K, 3), cam["R"]) - np.matmul(cam["pos"][:, None, :], cam["R"])
    return flat.reshape(-1, T, K, 3)


def _rotate_to_camera(cam: dict[str, np.ndarray], vec: np.ndarray) -> np.ndarray:
    """Camera-frame components (C, T, 3) of world directions (T, 3)."""
    return np.matmul(vec[None, :, :], cam["R"])


def _jacobian_apply(p: np.ndarray, a: np.ndarray, fx: np.ndarray, fy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """J(p) . a for the projection u = cx + fx x / zc, v = cy - fy y / zc with zc = -z (all camera frame)."""
    x, y, zc = p[..., 0], p[..., 1], -p[..., 2]
    gu = fx * (a[..., 0] / zc + x * a[..., 2] / zc**2)
    gv = -fy * (a[..., 1] / zc + y * a[..., 2] / zc**2)
    return gu, gv


def _grid_spacing(ju: tuple[np.ndarray, np.ndarray], jw: tuple[np.ndarray, np.ndarray], x_u: np.ndarray,
                  x_w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Grid-line spacings (pixels) of the projected module cell with edges a = X_u J u, b = X_w J w: the lines of
    constant u lie |a x b| / |b| apart, those of constant w |a x b| / |a| (kernels.metrics.grid_spacing)."""
    au, av = x_u * ju[0], x_u * ju[1]
    bu, bv = x_w * jw[0], x_w * jw[1]
    area = np.abs(au * bv - av * bu)
    return _safe_div(area, np.hypot(bu, bv), 0.0), _safe_div(area, np.hypot(au, av), 0.0)


def _safe_div(num: np.ndarray, den: np.ndarray, when_zero: float) -> np.ndarray:
    """num / den with den == 0 -> when_zero (num is assumed finite and >= 0)."""
    out = np.full(np.broadcast(num, den).shape, when_zero, dtype=np.float64)
    nz = den != 0
    np.divide(num, den, out=out, where=nz)
    return out


def quiet_zone_share(cam: dict[str, np.ndarray], tg: dict[str, np.ndarray], line: np.ndarray | bool = False
                     ) -> np.ndarray:
    """The largest share s in [0, 1] of the quiet zone with which each symbol's rectangle (``line``: its centre
    scan line along u) lies inside the image and the clipping range, -1 when not even the symbol does; (C, T).

    Exact: the corners move linearly with s, so every bound (near, far, four image edges, multiplied out by the
    depth) is linear in s, and the rectangles grow with s inside a convex frustum: the answer is the smallest
    root of a bound that falls with s, or -1 when one already fails at s = 0."""
    C, T = len(cam["fx"]), len(tg["X"])
    line = np.broadcast_to(np.asarray(line, bool), (C, T))
    half = np.broadcast_to(tg["half"][None], (C, T, 2)).copy()
    extra = np.broadcast_to((tg["half_q"] - tg["half"])[None], (C, T, 2)).copy()
    half[..., 1] = np.where(line, 0.0, half[..., 1])
    extra[..., 1] = np.where(line, 0.0, extra[..., 1])
    u_t, w_t = tg["R"][:, :, 0], tg["R"][:, :, 1]
    sign_u, sign_w = _CORNERS[:, 0], _CORNERS[:, 1]
    # corner k at s: pos + su (hu + s eu) u + sw (hw + s ew) w = p0 + s dp, in camera coordinates
    p0 = (tg["pos"][None, :, None, :] + sign_u[None, None, :, None] * half[:, :, None, 0, None] * u_t[None, :, None, :]
          + sign_w[None, None, :, None] * half[:, :, None, 1, None] * w_t[None, :, None, :])
    dp = (sign_u[None, None, :, None] * extra[:, :, None, 0, None] * u_t[None, :, None, :]
          + sign_w[None, None, :, None] * extra[:, :, None, 1, None] * w_t[None, :, None, :])
    q0 = np.einsum("ctkj,cji->ctki", p0 - cam["pos"][:, None, None, :], cam["R"])
    dq = np.einsum("ctkj,cji->ctki", dp, cam["R"])

    def bounds(q: np.ndarray, affine: bool) -> np.ndarray:
        """Each image/clip bound as a value that must stay >= 0 (linear in the point; ``affine`` adds constants)."""
        x, y, z = q[..., 0], q[..., 1], -q[..., 2]
        cx, cy = cam["cx"][:, None, None], cam["cy"][:, None, None]
        fx, fy = cam["fx"][:, None, None], cam["fy"][:, None, None]
        W, H = cam["W"][:, None, None], cam["H"][:, None, None]
        one = 1.0 if affine else 0.0
        return np.stack([z - one * cam["near"][:, None, None], one * cam["far"][:, None, None] - z,
                         cx * z + fx * x, (W - cx) * z - fx * x, cy * z - fy * y, (H - cy) * z + fy * y], axis=-1)

    a, b = bounds(q0, True), bounds(dq, False)
    with np.errstate(divide="ignore", invalid="ignore"):
        roots = np.where(b < 0, -a / np.where(b < 0, b, -1.0), np.inf)
    share = np.minimum(1.0, roots.min(axis=(2, 3)))
    return np.where((a >= 0).all(axis=(2, 3)), share, -1.0)


def pair_metrics(cam: dict[str, np.ndarray], tg: dict[str, np.ndarray], occ: ReferenceOcclusion,
                 cast: np.ndarray | str = "view") -> tuple[PairMetrics, dict[str, np.ndarray]]:
    """The profile-independent metrics of every camera x target pair of a chunk (C, T), and the extra outputs
    (distance, total motion smear in pixels). Occlusion rays go to the pairs in ``cast``: "view" the pairs in view
    (under each camera's own profile) and facing the camera, "front" every pair facing the camera, or a (C, T)
    mask; the others have no sample seen."""
    C, T = len(cam["fx"]), len(tg["X"])
    fx, fy = cam["fx"][:, None], cam["fy"][:, None]
    fx4, fy4 = fx[..., None], fy[..., None]
    sym = np.broadcast_to(tg["sym"][None, :], (C, T))
    lin = tg["linear"][None, :]

    # 1. view: the largest share of the quiet zone in the image, for the symbol and for its centre scan line.
    qz_view = quiet_zone_share(cam, tg)
    qz_line = np.where(lin, quiet_zone_share(cam, tg, line=np.broadcast_to(lin, (C, T))), qz_view)

    # 2. backfacing, tilt, distance (centre geometry).
    normal = tg["R"][:, :, 2]
    to_cam = cam["pos"][:, None, :] - tg["pos"][None, :, :]  # (C, T, 3)
    distance = np.linalg.norm(to_cam, axis=2)
    cos_n = np.einsum("ctj,tj->ct", to_cam, normal)
    sin_n = np.linalg.norm(np.cross(normal[None, :, :], to_cam), axis=2)
    front = cos_n > 0
    tilt = np.degrees(np.arctan2(sin_n, cos_n))

    # Camera-frame centre, module axes and velocity.
    pc = _to_camera(cam, tg["pos"][:, None, :])[:, :, 0, :]  # (C, T, 3)
    zc = -pc[..., 2]
    u_cam = _rotate_to_camera(cam, tg["R"][:, :, 0])
    w_cam = _rotate_to_camera(cam, tg["R"][:, :, 1])
    v_cam = _rotate_to_camera(cam, tg["vel"])

    # 4. PPM: 2-D symbols take the minimum over the symbol corners, 1-D symbols the centre.
    sc = _to_camera(cam, _planar_points(tg, _CORNERS, tg["half"]))  # (C, T, 4, 3)
    corners_ok = (-sc[..., 2] > 0).all(axis=2)
    computable = (zc > 0) & (corners_ok | lin)
    X = tg["X"][None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        gu_c = _jacobian_apply(pc, u_cam, fx, fy)
        gw_c = _jacobian_apply(pc, w_cam, fx, fy)
        Xw = X * tg["aspect_w"][None, :]  # the module along w (PDF417: the row height)
        ppm_u_centre = _grid_spacing(gu_c, gw_c, X, Xw)[0]
        ppm_w_centre = Xw * np.hypot(*gw_c)
        su, sw = _grid_spacing(_jacobian_apply(sc, u_cam[:, :, None, :], fx4, fy4),
                               _jacobian_apply(sc, w_cam[:, :, None, :], fx4, fy4), X[..., None], Xw[..., None])
        ppm_u_corner, ppm_w_corner = su.min(axis=2), sw.min(axis=2)
    ppm_u = np.where(computable, np.where(lin, ppm_u_centre, ppm_u_corner), 0.0)
    ppm_w = np.where(computable, np.where(lin, ppm_w_centre, ppm_w_corner), 0.0)
    gu_c = tuple(np.where(computable, g, 0.0) for g in gu_c)
    gw_c = tuple(np.where(computable, g, 0.0) for g in gw_c)

    # 5. scan-line ratio (h/L) / tan(roll) = (h/L) * big / small; inf when the u axis runs along an image axis.
    big = np.maximum(np.abs(gu_c[0]), np.abs(gu_c[1]))
    small = np.minimum(np.abs(gu_c[0]), np.abs(gu_c[1]))
    scan_ratio = _safe_div(tg["aspect"][None, :] * big, small, np.inf)

    # 6. defocus (thin lens + diffraction in quadrature), depth of the centre.
    d = np.where(computable, zc, 1.0)
    N = cam["N"][:, None]
    f = cam["f"][:, None]
    s = np.where(cam["auto"][:, None], np.clip(d, cam["focus_lo"][:, None], cam["focus_hi"][:, None]),
                 cam["s_fixed"][:, None])
    pitch = cam["pitch"][:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        c = f**2 * np.abs(d - s) / (N * d * (s - f))
        b_geo = c / pitch
        b_diff = 1.03 * cam["wavelength"][:, None] * N / pitch
        blur = np.hypot(b_geo, b_diff)
    blur = np.where((N > 0) & computable, blur, 0.0)

    # 7. motion smear in pixels, and its projection on each module axis' image direction.
    exposure = cam["exposure"][:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        mu, mv = _jacobian_apply(pc, v_cam, fx, fy)
    mu = np.where(computable, mu * exposure, 0.0)
    mv = np.where(computable, mv * exposure, 0.0)
    motion_px = np.hypot(mu, mv)
    smear_u = _safe_div(np.abs(mu * gu_c[0] + mv * gu_c[1]), np.hypot(*gu_c), 0.0)
    smear_w = _safe_div(np.abs(mu * gw_c[0] + mv * gw_c[1]), np.hypot(*gw_c), 0.0)

    metrics = PairMetrics(
        sym=sym, front=front, computable=computable, ppm_u=ppm_u, ppm_w=ppm_w, blur=blur, smear_u=smear_u,
        smear_w=smear_w, tilt=tilt, max_tilt=np.broadcast_to(cam["max_tilt"][:, None], (C, T)), scan_ratio=scan_ratio,
        qz_view=qz_view, qz_line=qz_line, seen=np.zeros((C, T), np.int64))

    # 3. occlusion: 9 rays to the samples of each pair that is cast (by default in view and front-facing).
    if isinstance(cast, str):
        terms = _terms(cam, tg)
        cast = front & (in_view(metrics, terms.quiet_share, terms.line_view) if cast == "view" else True)
    ci, ti = np.nonzero(cast)
    if len(ci):
        samples = _planar_points({"R": tg["R"][ti], "pos": tg["pos"][ti]}, SAMPLE_POINTS, tg["half"][ti])  # (n, 9, 3)
        origins = np.repeat(cam["pos"][ci], len(SAMPLE_POINTS), axis=0)
        blocked = occ.blocked(origins, samples.reshape(-1, 3)).reshape(len(ci), len(SAMPLE_POINTS))
        metrics.seen[ci, ti] = (~blocked * (1 << np.arange(len(SAMPLE_POINTS)))).sum(axis=1)
    return metrics, {"distance": distance, "motion_px": motion_px}


def _terms(cam: dict[str, np.ndarray], tg: dict[str, np.ndarray]) -> DecoderTerms:
    """Each pair's decoder terms from its camera's profile (C, T)."""
    return DecoderTerms.per_pair(list(PROFILES.values()), cam["profile"][:, None], tg["sym"][None, :])


_CULLED_MARGINS = [FACTORS.index(f) for f in ("resolution", "defocus", "motion", "angle")]


def _evaluate_chunk(
    cam: dict[str, np.ndarray], tg: dict[str, np.ndarray], occ: ReferenceOcclusion, light: TargetLight | None = None,
    cull: bool = True,
) -> dict[str, np.ndarray]:
    """Every result field for all pairs of a chunk of cameras x the selected targets; with ``cull`` a pair out of
    view or facing away keeps only its distance and tilt, like the kernel's (its other metrics and margins 0)."""
    metrics, extra = pair_metrics(cam, tg, occ)
    C, T = metrics.ppm_u.shape
    terms = _terms(cam, tg)
    glare = exposure = None
    if light is not None:
        glare, exposure, motion = _light_margins(light, cam, tg, (C, T))
        # Strobes that dominate the exposure shorten the smear (pairs in view and facing the camera, like the
        # kernel); the smear is linear in the time.
        on = in_view(metrics, terms.quiet_share, terms.line_view) & metrics.front
        t = cam["exposure"][:, None]
        scale = np.where(on & (t > 0), motion / np.where(t > 0, t, 1.0), 1.0)
        metrics.smear_u = metrics.smear_u * scale
        metrics.smear_w = metrics.smear_w * scale
        extra["motion_px"] = extra["motion_px"] * scale
    v = verdict(metrics, terms, glare, exposure, min_read=cam["min_read"][:, None])
    if cull:
        off = ~(in_view(metrics, terms.quiet_share, terms.line_view) & metrics.front)
        for name in ("ppm_u", "ppm_w", "blur"):
            setattr(metrics, name, np.where(off, 0.0, getattr(metrics, name)))
        extra["motion_px"] = np.where(off, 0.0, extra["motion_px"])
        v.combined = np.where(off, 0.0, v.combined)
        v.margins[..., _CULLED_MARGINS] = np.where(off[..., None], 0.0, v.margins[..., _CULLED_MARGINS])
    return {
        "decodable": v.decodable,
        "limiting": v.limiting,
        "score": v.score,
        "p_read": v.p_read,
        "ppm_u": metrics.ppm_u,
        "ppm_w": metrics.ppm_w,
        "tilt_deg": metrics.tilt,
        "defocus_px": metrics.blur,
        "motion_px": extra["motion_px"],
        "visible_fraction": v.visible,
        "distance": extra["distance"],
        "combined_margin": v.combined,
        "margins": v.margins,
    }


def evaluate_reference(
    scene: Scene,
    cameras: Sequence[int] | None = None,
    targets: Sequence[int] | None = None,
    *,
    occlusion: ReferenceOcclusion | None = None,
    max_pairs_per_chunk: int = 1 << 17,
    cull: bool = True,
) -> PairResults:
    """Evaluate the model for the selected cameras x targets (default all).

    Returns a PairResults of shape (len(cameras), len(targets)), rows and columns in the order given.
    ``occlusion`` lets a caller reuse the merged mesh + Embree BVH across calls (building it costs seconds
    for a million triangles); by default it is built from ``scene.parts``. ``cull``: as ``World``'s.
    """
    cam_idx = np.arange(len(scene.cameras)) if cameras is None else np.asarray(cameras, dtype=np.int64)
    tgt_idx = np.arange(len(scene.targets)) if targets is None else np.asarray(targets, dtype=np.int64)
    out = PairResults.empty(len(cam_idx), len(tgt_idx))
    if len(cam_idx) == 0 or len(tgt_idx) == 0:
        return out
    if occlusion is None:
        occlusion = ReferenceOcclusion.from_parts(scene.parts)
    cam_all = camera_arrays([scene.cameras[i] for i in cam_idx])
    tg = target_arrays([scene.targets[i] for i in tgt_idx])
    light = target_light(scene.lights, tg, occlusion) if scene.lights else None
    step = max(1, max_pairs_per_chunk // len(tgt_idx))
    for start in range(0, len(cam_idx), step):
        sl = slice(start, start + step)
        cam = {k: v[sl] for k, v in cam_all.items()}
        res = _evaluate_chunk(cam, tg, occlusion, light, cull)
        for name, value in res.items():
            getattr(out, name)[sl] = value
    return out
