"""Independent numpy + trimesh (Embree) implementation of the per-pair decodability model.

Written from the model spec alone (not from the Warp kernels) so the two can check each other. Everything is
vectorised over camera x target pairs in float64; the only loop is over chunks of cameras to bound memory.
Occlusion rays go through trimesh's Embree intersector on one merged world mesh of all parts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import trimesh

from .model import CameraModel, LightModel, MeshPart, Scene, TargetModel
from .pair_results import PairResults
from .profiles import (
    FACTOR_CODE,
    FACTORS,
    LIMIT_NORM_P,
    PROFILES,
    SCORE_RATE,
    SYMBOLOGIES,
    DecoderProfile,
    module_aspect,
)

# Occlusion sample points in units of the symbol half-size: a 3 x 3 grid (centre, 4 corners, 4 edge midpoints),
# inset 2 %, row by row: sample k at (k % 3 - 1, k // 3 - 1), so samples 3r..3r+2 form row r across u.
_INSET = 0.98
SAMPLE_POINTS: np.ndarray = _INSET * np.array([[k % 3 - 1, k // 3 - 1] for k in range(9)], dtype=np.float64)
_ROWS = np.arange(9).reshape(3, 3)
_CORNERS: np.ndarray = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64)
# max_t = |segment| * (1 - REL) - ABS: the surface a label sits on must not hide it.
OCCLUSION_REL_EPS = 1e-4
OCCLUSION_ABS_EPS = 1e-4  # metres

_F = {name: i for i, name in enumerate(FACTORS)}


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


def _camera_arrays(cams: Sequence[CameraModel]) -> dict[str, np.ndarray]:
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
        "scanline": np.array([PROFILES[c.decoder_profile].scanline for c in cams], dtype=bool),
        "clear_row": np.array([PROFILES[c.decoder_profile].clear_row for c in cams], dtype=bool),
        "line_view": np.array([PROFILES[c.decoder_profile].line_view for c in cams], dtype=bool),
        "max_tilt": col(lambda c: c.max_tilt_deg),
        "min_exposure": col(lambda c: c.min_exposure),
        "profile": np.array([list(PROFILES).index(c.decoder_profile) for c in cams], dtype=np.int64),
    }


def _target_arrays(tgts: Sequence[TargetModel]) -> dict[str, np.ndarray]:
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
        "scan_kind": np.array([SYMBOLOGIES[t.symbology] in ("linear", "pdf417") for t in tgts], dtype=bool),
        "aspect": sizes[:, 1] / np.maximum(sizes[:, 0], 1e-300),  # height / length
        "vel": np.array([np.asarray(t.velocity, np.float64) for t in tgts]).reshape(-1, 3),
        "symbology": np.array([t.symbology for t in tgts], dtype=object),
        "reflectance": np.array([t.reflectance for t in tgts], dtype=np.float64),
        "contrast": np.array([t.print_contrast for t in tgts], dtype=np.float64),
        "glossy": np.array([t.glossy for t in tgts], dtype=bool),
        "gloss": np.array([t.gloss_angle_deg for t in tgts], dtype=np.float64),
    }


# Lights (DESIGN 4.8, 4.9): print contrast of at least 20 %; a pinhole (fStop 0) counts as f/1 for the exposure.
MIN_PRINT_CONTRAST = 0.2
PINHOLE_F_NUMBER = 1.0


@dataclass
class TargetLight:
    """What the lights do at each target centre, camera-independent: illuminance (lux) and, per light, whether it
    reaches the centre (in its cone, in front of the label, not shadowed) and the mirror direction of its ray."""

    illuminance: np.ndarray  # (T,)
    reaches: np.ndarray  # (T, L) bool
    mirror: np.ndarray  # (T, L, 3) unit


def target_light(lights: Sequence[LightModel], tg: dict[str, np.ndarray], occ: ReferenceOcclusion) -> TargetLight:
    """E = sum I cos(i) / d^2 over the lights that reach each symbol centre (one shadow segment light -> centre,
    short of the centre by the occlusion epsilon); uniform cones of half-angle beam_angle_deg (180: all around)."""
    n_t, n_l = len(tg["X"]), len(lights)
    pos = np.array([np.asarray(lt.position, np.float64) for lt in lights]).reshape(n_l, 3)
    axis = np.array([np.asarray(lt.direction, np.float64) for lt in lights]).reshape(n_l, 3)
    axis = axis / np.linalg.norm(axis, axis=1, keepdims=True)
    intensity = np.array([lt.intensity for lt in lights], dtype=np.float64)
    cos_beam = np.array([-1.0 if lt.beam_angle_deg >= 180.0 else np.cos(np.radians(lt.beam_angle_deg))
                         for lt in lights], dtype=np.float64)
    seg = pos[None, :, :] - tg["pos"][:, None, :]  # (T, L, 3) centre -> light
    d2 = np.einsum("tlj,tlj->tl", seg, seg)
    with np.errstate(divide="ignore", invalid="ignore"):
        to_light = seg / np.sqrt(d2)[..., None]
    normal = tg["R"][:, :, 2]
    cos_i = np.einsum("tlj,tj->tl", to_light, normal)
    in_cone = -np.einsum("tlj,lj->tl", to_light, axis) >= cos_beam[None, :]
    reaches = (d2 > 0) & (intensity[None, :] > 0) & (cos_i > 0) & in_cone
    ti, li = np.nonzero(reaches)
    if len(ti):
        blocked = occ.blocked(pos[li], tg["pos"][ti])
        reaches[ti[blocked], li[blocked]] = False
    with np.errstate(invalid="ignore"):
        illuminance = np.where(reaches, intensity[None, :] * cos_i / d2, 0.0).sum(axis=1)
        mirror = 2.0 * cos_i[..., None] * normal[:, None, :] - to_light
    return TargetLight(illuminance.reshape(n_t), reaches, mirror)


def _light_margins(light: TargetLight | None, cam: dict[str, np.ndarray], tg: dict[str, np.ndarray],
                   shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(glare, exposure) margins (C, T): exposure H = E rho T / (4 N^2) against the sensor's minimum, and the print
    contrast against 20 %; glare = angle between the camera and a light's mirror direction / gloss angle."""
    if light is None:
        return np.full(shape, np.inf), np.full(shape, np.inf)
    n_eff = np.where(cam["N"] > 0, cam["N"], PINHOLE_F_NUMBER)
    h = light.illuminance[None, :] * tg["reflectance"][None, :] * (cam["exposure"] / (4.0 * n_eff**2))[:, None]
    h_min = cam["min_exposure"][:, None]
    by_signal = np.where(h_min > 0, h / np.where(h_min > 0, h_min, 1.0), np.inf)
    exposure = np.minimum(by_signal, tg["contrast"][None, :] / MIN_PRINT_CONTRAST)
    to_cam = cam["pos"][:, None, :] - tg["pos"][None, :, :]  # (C, T, 3)
    m = light.mirror[None]  # (1, T, L, 3)
    v = to_cam[:, :, None, :]
    angle = np.degrees(np.arctan2(np.linalg.norm(np.cross(m, v), axis=-1), np.sum(m * v, axis=-1)))
    gloss = tg["gloss"][None, :, None]
    ratio = np.where(gloss > 0, angle / np.where(gloss > 0, gloss, 1.0), np.inf)
    ratio = np.where(light.reaches[None] & tg["glossy"][None, :, None], ratio, np.inf)
    glare = ratio.min(axis=2) if ratio.shape[2] else np.full(shape, np.inf)
    return glare, exposure


def _per_pair(cam_profile: np.ndarray, symbologies: np.ndarray, value) -> np.ndarray:
    """value(profile, symbology)[c, t] for each camera's profile and each target's symbology."""
    kinds, inverse = np.unique(symbologies.astype(str), return_inverse=True)
    table = np.array([[value(prof, str(s)) for s in kinds] for prof in PROFILES.values()], dtype=np.float64)
    return table[cam_profile][:, inverse.ravel()]


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


def _safe_div(num: np.ndarray, den: np.ndarray, when_zero: float) -> np.ndarray:
    """num / den with den == 0 -> when_zero (num is assumed finite and >= 0)."""
    out = np.full(np.broadcast(num, den).shape, when_zero, dtype=np.float64)
    nz = den != 0
    np.divide(num, den, out=out, where=nz)
    return out


def _evaluate_chunk(
    cam: dict[str, np.ndarray], tg: dict[str, np.ndarray], occ: ReferenceOcclusion, light: TargetLight | None = None
) -> dict[str, np.ndarray]:
    """Every result field for all pairs of a chunk of cameras x the selected targets."""
    C, T = len(cam["fx"]), len(tg["X"])
    fx, fy = cam["fx"][:, None], cam["fy"][:, None]
    fx4, fy4 = fx[..., None], fy[..., None]

    # 1. fov: the corners of the symbol plus the decoder's share of its quiet zone inside the image and the
    # clipping range; a 1-D symbol under a line_view decoder: the ends of its centre scan line.
    share = _per_pair(cam["profile"], tg["symbology"], DecoderProfile.quiet_share)  # (C, T)
    half_v = tg["half"][None] + share[..., None] * (tg["half_q"] - tg["half"])[None]  # (C, T, 2)
    line = cam["line_view"][:, None] & tg["linear"][None, :]
    half_v[..., 1] = np.where(line, 0.0, half_v[..., 1])
    u_t, w_t = tg["R"][:, :, 0], tg["R"][:, :, 1]
    world_q = (tg["pos"][None, :, None, :] + _CORNERS[None, None, :, 0, None] * half_v[:, :, None, 0, None]
               * u_t[None, :, None, :] + _CORNERS[None, None, :, 1, None] * half_v[:, :, None, 1, None]
               * w_t[None, :, None, :])  # (C, T, 4, 3)
    qc = np.einsum("ctkj,cji->ctki", world_q - cam["pos"][:, None, None, :], cam["R"])  # (C, T, 4, 3)
    zq = -qc[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        uq = cam["cx"][:, None, None] + fx4 * qc[..., 0] / zq
        vq = cam["cy"][:, None, None] - fy4 * qc[..., 1] / zq
    inside = (
        (zq >= cam["near"][:, None, None])
        & (zq <= cam["far"][:, None, None])
        & (uq >= 0)
        & (uq <= cam["W"][:, None, None])
        & (vq >= 0)
        & (vq <= cam["H"][:, None, None])
    )
    fov = inside.all(axis=2)

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
    computable = (zc > 0) & (corners_ok | tg["linear"][None, :])
    X = tg["X"][None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        gu_c = _jacobian_apply(pc, u_cam, fx, fy)
        gw_c = _jacobian_apply(pc, w_cam, fx, fy)
        ppm_u_centre = X * np.hypot(*gu_c)
        Xw = X * tg["aspect_w"][None, :]  # the module along w (PDF417: the row height)
        ppm_w_centre = Xw * np.hypot(*gw_c)
        ppm_u_corner = X * np.hypot(*_jacobian_apply(sc, u_cam[:, :, None, :], fx4, fy4)).min(axis=2)
        ppm_w_corner = Xw * np.hypot(*_jacobian_apply(sc, w_cam[:, :, None, :], fx4, fy4)).min(axis=2)
    lin = tg["linear"][None, :]
    ppm_u = np.where(computable, np.where(lin, ppm_u_centre, ppm_u_corner), 0.0)
    ppm_w = np.where(computable, np.where(lin, ppm_w_centre, ppm_w_corner), 0.0)
    gu_c = tuple(np.where(computable, g, 0.0) for g in gu_c)
    gw_c = tuple(np.where(computable, g, 0.0) for g in gw_c)

    # 5. angle margin: tilt, and the scan-line roll for scan-line decoders reading 1-D / PDF417.
    max_tilt = np.minimum(cam["max_tilt"][:, None], _per_pair(cam["profile"], tg["symbology"],
                                                              DecoderProfile.tilt_limit))
    tilt_margin = _safe_div(np.broadcast_to(max_tilt, tilt.shape), tilt, np.inf)
    big = np.maximum(np.abs(gu_c[0]), np.abs(gu_c[1]))
    small = np.minimum(np.abs(gu_c[0]), np.abs(gu_c[1]))
    # (h/L) / tan(roll) = (h/L) * big / small; inf when the u axis runs along an image axis.
    # A decoder that needs the rows crossing the whole symbol to cover a share c of its height: (1 - c) (h/L) / tan.
    cover = 1.0 - _per_pair(cam["profile"], tg["symbology"], DecoderProfile.cover)
    scan_margin = cover * _safe_div(tg["aspect"][None, :] * big, small, np.inf)
    uses_scan = cam["scanline"][:, None] & tg["scan_kind"][None, :] & computable
    angle_margin = np.where(uses_scan, np.minimum(tilt_margin, scan_margin), tilt_margin)

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
    norm_u = np.hypot(*gu_c)
    norm_w = np.hypot(*gw_c)
    m_u = _safe_div(np.abs(mu * gu_c[0] + mv * gu_c[1]), norm_u, 0.0)
    m_w = _safe_div(np.abs(mu * gw_c[0] + mv * gw_c[1]), norm_w, 0.0)

    # 8. sampling and blur combined per axis; the worst axis decides.
    Tm = _per_pair(cam["profile"], tg["symbology"], DecoderProfile.threshold)
    B = _per_pair(cam["profile"], tg["symbology"], DecoderProfile.blur)
    p = LIMIT_NORM_P

    def axis_terms(ppm: np.ndarray, m_a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r_s = _safe_div(Tm, ppm, np.inf)
        r_b = _safe_div(np.sqrt(blur**2 + m_a**2) / B, ppm, np.inf)
        with np.errstate(over="ignore"):
            q = (r_s**p + r_b**p) ** (1.0 / p)
        return r_s, r_b, q

    rs_u, rb_u, q_u = axis_terms(ppm_u, m_u)
    rs_w, rb_w, q_w = axis_terms(ppm_w, m_w)
    use_w = ~lin & (q_w > q_u)
    q = np.where(use_w, q_w, q_u)
    r_s = np.where(use_w, rs_w, rs_u)
    r_b = np.where(use_w, rb_w, rb_u)
    ppm_worst = np.where(use_w, ppm_w, ppm_u)
    m_worst = np.where(use_w, m_w, m_u)
    combined = 1.0 / q  # q >= r_s > 0; inf -> 0

    # 3. occlusion for pairs in view and front-facing: 9 rays each. Readable when all are seen, or (1-D with the
    # clear-row trait) one full row across u is seen, or at least the class's min_visible share is seen.
    visible = np.zeros((C, T), dtype=np.float64)
    readable = np.zeros((C, T), dtype=bool)
    cand = fov & front
    ci, ti = np.nonzero(cand)
    if len(ci):
        samples = _planar_points(
            {"R": tg["R"][ti], "pos": tg["pos"][ti]}, SAMPLE_POINTS, tg["half"][ti]
        )  # (n, 9, 3)
        origins = np.repeat(cam["pos"][ci], len(SAMPLE_POINTS), axis=0)
        blocked = occ.blocked(origins, samples.reshape(-1, 3)).reshape(len(ci), len(SAMPLE_POINTS))
        seen = ~blocked
        n_seen = seen.sum(axis=1)
        visible[ci, ti] = n_seen / len(SAMPLE_POINTS)
        share = _per_pair(cam["profile"], tg["symbology"], DecoderProfile.visible_share)[ci, ti]
        row = seen[:, _ROWS].all(axis=2).any(axis=1) & cam["clear_row"][ci] & tg["linear"][ti]
        readable[ci, ti] = (n_seen == len(SAMPLE_POINTS)) | row | (n_seen >= np.ceil(share * 9 - 1e-3))

    # Margins per factor.
    margins = np.zeros((C, T, len(FACTORS)), dtype=np.float64)
    margins[..., _F["fov"]] = np.where(fov, np.inf, 0.0)
    margins[..., _F["backfacing"]] = np.where(front, np.inf, 0.0)
    margins[..., _F["occluded"]] = visible
    margins[..., _F["resolution"]] = ppm_worst / Tm
    margins[..., _F["defocus"]] = np.where(computable, _safe_div(B * ppm_worst, blur, np.inf), 0.0)
    margins[..., _F["motion"]] = np.where(computable, _safe_div(B * ppm_worst, m_worst, np.inf), 0.0)
    margins[..., _F["angle"]] = angle_margin
    # Lights: only for pairs in view and facing the camera; inf otherwise and without lights.
    glare, exposure = _light_margins(light, cam, tg, (C, T))
    glare = np.where(fov & front, glare, np.inf)
    exposure = np.where(fov & front, exposure, np.inf)
    margins[..., _F["glare"]] = glare
    margins[..., _F["exposure"]] = exposure

    # 9. decodable, limiting factor, score.
    decodable = (fov & front & readable & (combined >= 1.0) & (angle_margin >= 1.0) & (glare >= 1.0)
                 & (exposure >= 1.0))
    sampling = np.where(r_s >= r_b, FACTOR_CODE["resolution"],
                        np.where(blur >= m_worst, FACTOR_CODE["defocus"], FACTOR_CODE["motion"]))
    geometric = np.minimum(combined, angle_margin)
    limiting = np.select(
        [decodable, ~fov, ~front, ~readable, (glare < geometric) & (glare <= exposure), exposure < geometric,
         angle_margin < combined],
        [0, FACTOR_CODE["fov"], FACTOR_CODE["backfacing"], FACTOR_CODE["occluded"], FACTOR_CODE["glare"],
         FACTOR_CODE["exposure"], FACTOR_CODE["angle"]],
        default=sampling,
    ).astype(np.int32)
    m = np.minimum(geometric, np.minimum(glare, exposure))
    with np.errstate(over="ignore", invalid="ignore"):
        score = np.where(decodable, 1.0 - np.exp(-SCORE_RATE * (m - 1.0)), 0.0)
    score = np.where(decodable & np.isinf(m), 1.0, score)

    return {
        "decodable": decodable,
        "limiting": limiting,
        "score": score,
        "ppm_u": ppm_u,
        "ppm_w": ppm_w,
        "tilt_deg": tilt,
        "defocus_px": blur,
        "motion_px": motion_px,
        "visible_fraction": visible,
        "distance": distance,
        "combined_margin": combined,
        "margins": margins,
    }


def evaluate_reference(
    scene: Scene,
    cameras: Sequence[int] | None = None,
    targets: Sequence[int] | None = None,
    *,
    occlusion: ReferenceOcclusion | None = None,
    max_pairs_per_chunk: int = 1 << 17,
) -> PairResults:
    """Evaluate the model for the selected cameras x targets (default all).

    Returns a PairResults of shape (len(cameras), len(targets)), rows and columns in the order given.
    ``occlusion`` lets a caller reuse the merged mesh + Embree BVH across calls (building it costs seconds
    for a million triangles); by default it is built from ``scene.parts``.
    """
    cam_idx = np.arange(len(scene.cameras)) if cameras is None else np.asarray(cameras, dtype=np.int64)
    tgt_idx = np.arange(len(scene.targets)) if targets is None else np.asarray(targets, dtype=np.int64)
    out = PairResults.empty(len(cam_idx), len(tgt_idx))
    if len(cam_idx) == 0 or len(tgt_idx) == 0:
        return out
    if occlusion is None:
        occlusion = ReferenceOcclusion.from_parts(scene.parts)
    cam_all = _camera_arrays([scene.cameras[i] for i in cam_idx])
    tg = _target_arrays([scene.targets[i] for i in tgt_idx])
    light = target_light(scene.lights, tg, occlusion) if scene.lights else None
    step = max(1, max_pairs_per_chunk // len(tgt_idx))
    for start in range(0, len(cam_idx), step):
        sl = slice(start, start + step)
        cam = {k: v[sl] for k, v in cam_all.items()}
        res = _evaluate_chunk(cam, tg, occlusion, light)
        for name, value in res.items():
            getattr(out, name)[sl] = value
    return out
