"""The decodability model checked against a real decoder: render each camera x target, decode it with zxing-cpp.

Two sources of cases:
- ``validate_scene``: every camera x target of a user's scene whose label reaches into the image.
- ``study_cases`` / ``run_study``: randomised single camera x single target scenes (a label on a parcel, an
  optional wall), each designed to probe one factor near its limit (resolution, defocus, motion, angle, fov,
  occluded, backfacing, or several at once), spread over every symbology.
Each case is rendered in a window around the symbol (``swb.render.renderer``), decoded with zxing-cpp restricted to the
symbology, and counted as read only when the decoded text equals the encoded text. The model's verdict comes
from ``swb.engine.world.World`` on the same ``Scene``.

``fit_profile`` fits a decoder profile (T and B per class, the scan-line traits, the occlusion traits) to study
cases by maximising agreement, using the model's profile-independent metrics per case, the occlusion samples'
visibility mask included (``profile_verdict`` recomputes the verdict in numpy).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import warp as wp

from ..engine.devices import resolve_device
from ..engine.model import CameraModel, MeshPart, Scene, TargetModel
from ..engine.profiles import (
    CLASS_CODE,
    FACTOR_CODE,
    FACTORS,
    LIMIT_NORM_P,
    N_OCCLUSION_SAMPLES,
    PROFILES,
    SYMBOLOGIES,
    SYMBOLOGY_CODE,
    DecoderProfile,
    factor_name,
    is_linear,
)
from ..engine.reference import SAMPLE_POINTS, ReferenceOcclusion
from ..engine.world import World
from ..errors import SwbError
from ..stage.layers import write_text_atomic
from .renderer import (
    ZXING_FORMAT,
    Renderer,
    RenderSettings,
    _zxing,
    label_half_size,
    project_points,
    symbol_corners_world,
)

ALL_SEEN = (1 << N_OCCLUSION_SAMPLES) - 1
# The profile fitted by ``fit_profile`` to studies 0 and 1 together, held out: study 2 (docs/validation.md).
ZXING_PROFILE = PROFILES["zxing"]
CLASSES: tuple[str, ...] = tuple(CLASS_CODE)  # linear, pdf417, datamatrix, qr, aztec
# The study draws one of these groups with equal chance, then a symbology in it (QR and Aztec share a group, as
# when Aztec was read like QR, so the same seed gives the same cases).
STUDY_GROUPS: dict[str, tuple[str, ...]] = {
    "linear": tuple(s for s, k in SYMBOLOGIES.items() if k == "linear"),
    "pdf417": ("pdf417",), "datamatrix": ("datamatrix",), "qr": ("qrcode", "aztec"),
}
DESIGNS: tuple[tuple[str, float], ...] = (
    ("resolution", 0.22),
    ("defocus", 0.15),
    ("motion", 0.15),
    ("angle", 0.12),
    ("fov", 0.08),
    ("occluded", 0.08),
    ("backfacing", 0.04),
    ("mixed", 0.16),
)
PITCH = 3.45e-6  # metres: a common global-shutter pixel
RESOLUTIONS = ((1280, 1024), (1440, 1080), (1920, 1200), (2448, 2048))
FOCAL_LENGTHS = (8e-3, 12e-3, 16e-3, 25e-3, 35e-3)
BLUR_SPP = 32  # samples per pixel where defocus or motion blur matters; 16 otherwise
SHARP_SPP = 16
STUDY_MAX_TILT = 90.0  # the study camera's swb:sensor:maxTilt: no reader rule, so the decoder's limit shows
NEAR_LIMIT = (0.8, 1.25)  # min(combined, angle margin) in this open range: a case near its limit


# --------------------------------------------------------------------------------------------- geometry


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = np.asarray(axis, np.float64) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * (k @ k)


def _box_part(path: str, rot: np.ndarray, centre: np.ndarray, half: np.ndarray) -> MeshPart:
    """A box (12 triangles, outward faces) with axes ``rot`` columns and half extents ``half``."""
    signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], np.float64)
    points = signs * np.asarray(half, np.float64)
    tris = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                     [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]], np.int32)
    m = np.eye(4)
    m[:3, :3] = rot
    m[:3, 3] = centre
    return MeshPart(path, points, tris, m)


def _axis_terms(cam: CameraModel, tgt: TargetModel) -> tuple[float, float, float]:
    """Per-axis smear (m_u, m_w) in pixels and the scan-line margin, as the model defines them."""
    rot_c = np.asarray(cam.rotation, np.float64)
    rot_t = np.asarray(tgt.rotation, np.float64)
    p = (np.asarray(tgt.position, np.float64) - cam.position) @ rot_c
    x, y, d = p[0], p[1], -p[2]

    def step(a_world: np.ndarray) -> np.ndarray:
        a = a_world @ rot_c
        ax, ay, ad = a[0], a[1], -a[2]
        return np.array([cam.fx * (ax / d - x * ad / d**2), -cam.fy * (ay / d - y * ad / d**2)])

    smear = step(np.asarray(tgt.velocity, np.float64)) * cam.exposure
    gu, gw = step(rot_t[:, 0]), step(rot_t[:, 1])
    m = [abs(float(smear @ g / np.linalg.norm(g))) if np.linalg.norm(g) > 0 else 0.0 for g in (gu, gw)]
    big, small = max(abs(gu[0]), abs(gu[1])), min(abs(gu[0]), abs(gu[1]))
    length, height = tgt.size
    scan = math.inf if small <= 0 or big <= 0 else (height / length) / (small / big)
    return m[0], m[1], scan


# --------------------------------------------------------------------------------------------- cases


@dataclass
class Case:
    """One camera x target check: the model's metrics and verdict, and what zxing-cpp made of the render."""

    index: int
    camera: str
    target: str
    symbology: str
    design: str  # the factor the case was generated to probe ("scene" for user scenes)
    content: str
    module_size: float
    modules: tuple[int, int]
    ppm_u: float
    ppm_w: float
    defocus_px: float
    smear_u: float
    smear_w: float
    tilt_deg: float
    max_tilt: float
    scan_margin: float
    fov: bool
    front: bool
    visible_fraction: float
    predicted: bool
    limiting: str | None
    decoded: bool = False
    decoded_text: str | None = None
    window: tuple[int, int, int, int] = (0, 0, 0, 0)
    extra: dict = field(default_factory=dict)
    visible_mask: int = ALL_SEEN  # occlusion samples seen (bit k: sample k of the 3 x 3 grid, as in the model)
    # The largest share of the quiet zone with which the symbol (qz_view) or its centre scan line (qz_line) lies
    # in the image and the clipping range; -1 when even the symbol (line) does not.
    qz_view: float = 1.0
    qz_line: float = 1.0

    @property
    def cls(self) -> str:
        return SYMBOLOGIES[self.symbology]

    def to_json(self) -> dict:
        d = asdict(self)
        d["scan_margin"] = None if not math.isfinite(self.scan_margin) else self.scan_margin
        return d

    @classmethod
    def from_json(cls, d: dict) -> Case:
        d = dict(d)
        d["scan_margin"] = math.inf if d["scan_margin"] is None else d["scan_margin"]
        d["modules"] = tuple(d["modules"])
        d["window"] = tuple(d["window"])
        d.setdefault("visible_mask", ALL_SEEN if d["visible_fraction"] >= 1 else 0)
        d.setdefault("qz_view", 1.0 if d["fov"] else -1.0)
        d.setdefault("qz_line", d["qz_view"])
        return cls(**d)


def _window(cam: CameraModel, tgt: TargetModel, renderer: Renderer, t: int) -> tuple[int, int, int, int] | None:
    """Pixel window around the label over the exposure, padded for blur and context; None when out of view."""
    bm = renderer.bitmaps[t]
    hu, hw = label_half_size(tgt, bm)
    rot = np.asarray(tgt.rotation, np.float64)
    pts = []
    for time in (-0.5 * cam.exposure, 0.0, 0.5 * cam.exposure):
        centre = np.asarray(tgt.position, np.float64) + time * np.asarray(tgt.velocity, np.float64)
        for su, sw in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
            pts.append(centre + su * hu * rot[:, 0] + sw * hw * rot[:, 1])
    px, depth = project_points(cam, np.array(pts))
    if np.any(depth <= cam.clipping[0]):
        px = px[depth > cam.clipping[0]]
        if len(px) == 0:
            return None
    lo, hi = px.min(axis=0), px.max(axis=0)
    pad = max(16.0, 0.1 * float(np.max(hi - lo)))
    x0, y0 = math.floor(lo[0] - pad), math.floor(lo[1] - pad)
    x1, y1 = math.ceil(hi[0] + pad), math.ceil(hi[1] + pad)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(cam.width, x1), min(cam.height, y1)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return x0, y0, x1, y1


def visible_mask(occlusion: ReferenceOcclusion, cam: CameraModel, tgt: TargetModel) -> int:
    """Which of the model's occlusion samples the camera sees (bit k for sample k), from the numpy reference."""
    rot = np.asarray(tgt.rotation, np.float64)
    half = 0.5 * np.asarray(tgt.size, np.float64)
    pts = (np.asarray(tgt.position, np.float64) + SAMPLE_POINTS[:, :1] * half[0] * rot[:, 0]
           + SAMPLE_POINTS[:, 1:] * half[1] * rot[:, 1])
    blocked = occlusion.blocked(np.repeat(np.asarray(cam.position, np.float64)[None], len(pts), axis=0), pts)
    return int(sum(1 << k for k in range(len(pts)) if not blocked[k]))


def quiet_zone_in_view(cam: CameraModel, tgt: TargetModel, line: bool = False) -> float:
    """The largest share s in [0, 1] of the quiet zone with which the symbol's rectangle (``line``: its centre
    scan line along u) lies inside the image and the clipping range, as the model's field of view tests it;
    -1 when not even the symbol (line) does. Bisection to 1e-5: the test is monotone in s."""
    rot = np.asarray(tgt.rotation, np.float64)
    half = 0.5 * np.asarray(tgt.size, np.float64)
    extra = 0.5 * np.asarray(tgt.size_with_quiet_zone, np.float64) - half
    signs = np.array([[-1, -1], [1, -1], [-1, 1], [1, 1]], np.float64)

    def inside(share: float) -> bool:
        h = half + share * extra
        if line:
            h = np.array([h[0], 0.0])
        pts = (np.asarray(tgt.position, np.float64) + (signs[:, :1] * h[0]) * rot[:, 0]
               + (signs[:, 1:] * h[1]) * rot[:, 1])
        px, depth = project_points(cam, pts)
        near, far = cam.clipping
        return bool(np.all((depth >= near) & (depth <= far)) and np.all((px >= 0) & (px <= [cam.width, cam.height])))

    if not inside(0.0):
        return -1.0
    if inside(1.0):
        return 1.0
    lo, hi = 0.0, 1.0
    while hi - lo > 1e-5:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if inside(mid) else (lo, mid)
    return lo


def decode(pixels: np.ndarray, symbology: str, text: str) -> tuple[bool, str | None]:
    """zxing-cpp on an 8-bit image, restricted to the symbology: (read with the right text, first text found)."""
    zx = _zxing()
    fmt = getattr(zx.BarcodeFormat, ZXING_FORMAT[symbology])
    found = zx.read_barcodes(np.ascontiguousarray(pixels), formats=fmt)
    texts = [b.text for b in found]
    return text in texts, (texts[0] if texts else None)


def _spp(blur_px: float) -> int:
    return BLUR_SPP if blur_px > 0.5 else SHARP_SPP


def check_pairs(
    scene: Scene,
    pairs: Iterable[tuple[int, int]],
    *,
    device: str | None = None,
    settings: RenderSettings | None = None,
    design: str = "scene",
    index: int = 0,
    keep_pixels: bool = False,
    render: bool = True,
) -> list[Case]:
    """Model verdict and zxing outcome for the given (camera, target) pairs of one scene (``render`` False: the
    model's side only, nothing rendered or decoded)."""
    world = World(scene, device, threads=1)
    try:
        world.evaluate()
        res = world.results()
        renderer = Renderer(scene, settings=settings, world=world)
        occlusion = ReferenceOcclusion.from_parts(scene.parts)
        cases = []
        for c, t in pairs:
            cam, tgt = scene.cameras[c], scene.targets[t]
            m_u, m_w, scan = _axis_terms(cam, tgt)
            case = Case(
                index=index + len(cases), camera=cam.path, target=tgt.path, symbology=tgt.symbology, design=design,
                content=renderer.bitmaps[t].text, module_size=tgt.module_size,
                modules=tuple(int(v) for v in renderer.bitmaps[t].dark.shape[::-1]),
                ppm_u=float(res.ppm_u[c, t]), ppm_w=float(res.ppm_w[c, t]), defocus_px=float(res.defocus_px[c, t]),
                smear_u=m_u, smear_w=m_w, tilt_deg=float(res.tilt_deg[c, t]), max_tilt=cam.max_tilt_deg,
                scan_margin=scan, fov=bool(res.margins[c, t, FACTOR_CODE["fov"] - 1] > 0),
                front=bool(res.margins[c, t, FACTOR_CODE["backfacing"] - 1] > 0),
                visible_fraction=float(res.visible_fraction[c, t]), predicted=bool(res.decodable[c, t]),
                limiting=factor_name(int(res.limiting[c, t])),
            )
            # The samples' mask also where the field of view fails, so a profile with other quiet-zone traits
            # can be scored on the stored case.
            case.visible_mask = visible_mask(occlusion, cam, tgt) if case.front else 0
            case.qz_view = quiet_zone_in_view(cam, tgt)
            case.qz_line = quiet_zone_in_view(cam, tgt, line=True) if tgt.linear else case.qz_view
            win = _window(cam, tgt, renderer, t) if render else None
            if win is not None:
                blur = max(case.defocus_px, float(res.motion_px[c, t]))
                img = renderer.render(c, win, spp=_spp(blur))
                case.window = win
                case.decoded, case.decoded_text = decode(img.pixels, tgt.symbology, renderer.bitmaps[t].text)
                if keep_pixels:
                    case.extra["pixels"] = img.pixels
            cases.append(case)
        return cases
    finally:
        world.close()


def scene_pairs(scene: Scene) -> list[tuple[int, int]]:
    """Every camera x target whose label centre lies in front of the camera (others cannot be rendered)."""
    out = []
    for c, cam in enumerate(scene.cameras):
        if not scene.targets:
            break
        _, depth = project_points(cam, np.array([t.position for t in scene.targets]))
        out += [(c, t) for t in range(len(scene.targets)) if depth[t] > cam.clipping[0]]
    return out


def validate_scene(
    scene: Scene, *, device: str | None = None, settings: RenderSettings | None = None, profile: str | None = None
) -> list[Case]:
    """Check every renderable camera x target of a scene (``profile`` overrides every camera's decoder)."""
    if profile is not None:
        scene = replace(scene, cameras=[replace(c, decoder_profile=profile) for c in scene.cameras])
    return check_pairs(scene, scene_pairs(scene), device=device, settings=settings)


# --------------------------------------------------------------------------------------------- the study


_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_TEXT = _ALNUM + "abcdefghijklmnopqrstuvwxyz -./"


def _random_content(rng: np.random.Generator, symbology: str) -> str:
    def pick(alphabet: str, n: int) -> str:
        return "".join(alphabet[i] for i in rng.integers(0, len(alphabet), n))

    if symbology == "ean13":
        return pick("0123456789", 12)
    if symbology == "upca":
        return pick("0123456789", 11)
    if symbology == "itf":
        return pick("0123456789", 2 * int(rng.integers(3, 8)))
    if symbology == "code39":
        return pick(_ALNUM, int(rng.integers(4, 9)))
    if symbology == "code128":
        return pick(_ALNUM + "-", int(rng.integers(5, 13)))
    return pick(_TEXT, int(rng.integers(6, 40)))


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _focus_for_blur(d: float, f: float, n: float, blur_m: float, behind: bool) -> float:
    """Focus distance s giving a geometric blur disk of ``blur_m`` metres on the sensor for an object at d."""
    k = blur_m * n * d / (f * f)  # |d - s| / (s - f)
    if behind and k < 0.9:
        return (d - k * f) / (1.0 - k)
    return (d + k * f) / (1.0 + k)


def study_case(seed: int, index: int) -> tuple[Scene, str]:
    """One randomised single camera x single target scene and the factor it was designed to probe."""
    rng = np.random.default_rng([seed, index])
    names, weights = zip(*DESIGNS, strict=True)
    design = str(rng.choice(names, p=np.asarray(weights) / sum(weights)))
    group = list(STUDY_GROUPS)[int(rng.integers(0, len(STUDY_GROUPS)))]
    symbology = str(rng.choice(list(STUDY_GROUPS[group])))
    content = _random_content(rng, symbology)
    module = float(rng.uniform(0.25e-3, 0.6e-3))
    zx = _zxing()
    code = zx.create_barcode(content, getattr(zx.BarcodeFormat, ZXING_FORMAT[symbology]))
    img = np.asarray(code.to_image(scale=1, add_quiet_zones=False))
    linear = is_linear(symbology)
    modules = (img.shape[1], 1) if linear else (img.shape[1], img.shape[0])
    bar_height = float(rng.uniform(0.15, 0.4)) * modules[0] * module if linear else None

    width, height = RESOLUTIONS[int(rng.integers(0, len(RESOLUTIONS)))]
    f = float(FOCAL_LENGTHS[int(rng.integers(0, len(FOCAL_LENGTHS)))])
    fx = f / PITCH

    # Log-uniform over practical ranges (not only around the thresholds), so every factor is seen passing,
    # failing and near its limit.
    tilt = float(rng.uniform(0.0, 35.0))
    blur_defocus = blur_motion = 0.0  # in modules
    if design == "resolution":
        ppm = _log_uniform(rng, 0.4, 8.0)
    elif design in ("defocus", "motion"):
        ppm = _log_uniform(rng, 1.5, 6.0)
        blur = _log_uniform(rng, 0.2, 6.0)
        blur_defocus, blur_motion = (blur, 0.0) if design == "defocus" else (0.0, blur)
    elif design == "angle":
        ppm = _log_uniform(rng, 2.5, 7.0)
        tilt = float(rng.uniform(30.0, 85.0))
    elif design == "mixed":
        ppm = _log_uniform(rng, 0.5, 7.0)
        blur_defocus = float(rng.uniform(0.0, 3.0))
        blur_motion = float(rng.uniform(0.0, 3.0))
        tilt = float(rng.uniform(0.0, 70.0))
    elif design == "backfacing":
        ppm = _log_uniform(rng, 2.5, 6.0)
        tilt = float(rng.uniform(100.0, 170.0))
    else:  # fov, occluded
        ppm = _log_uniform(rng, 2.5, 6.0)
    length_m = (modules[0] + 2 * (10 if linear else 2)) * module
    # Keep the label (with some room) inside the frame: fewer pixels per module on a large symbol if needed.
    ppm = min(ppm, 0.75 * min(width, height) / (length_m / module))
    d = module * fx / ppm
    d = max(d, 0.12)

    # Optics: pinhole or a lens focused on the symbol; defocus cases move the focus away.
    f_number, focus, focus_mode, focus_range = 0.0, d, "fixed", (0.0, math.inf)
    if design in ("defocus", "mixed") and blur_defocus > 0 or rng.random() < 0.5:
        f_number = float(rng.uniform(1.8, 8.0))
    if blur_defocus > 0:
        f_number = max(f_number, 1.8)
        blur_px = blur_defocus * module * fx / d
        focus = _focus_for_blur(d, f, f_number, blur_px * PITCH, bool(rng.random() < 0.5))
        if rng.random() < 0.2:  # autofocus that cannot reach: clamped to its range
            focus_mode, focus_range = "autofocus", (focus, focus * 1.5) if focus > d else (focus / 1.5, focus)
    elif f_number > 0 and rng.random() < 0.3:
        focus_mode, focus_range = "autofocus", (0.05, 20.0)

    # Pose: the symbol faces the camera within ``tilt`` about a random in-plane axis, rolled at random.
    # The camera sets no tilt rule of its own (maxTilt 90): the study measures the decoder's limit. Rendering and
    # decoding do not depend on it.
    cam = CameraModel(
        "/Camera", np.eye(3), np.zeros(3), width, height, f, (width * PITCH, height * PITCH), f_number=f_number,
        focus_distance=focus, focus_mode=focus_mode, focus_range=focus_range,
        exposure=float(rng.uniform(0.3e-3, 2e-3)), decoder_profile="zxing", max_tilt_deg=STUDY_MAX_TILT,
    )
    margin = 0.5 * length_m * fx / d + 10
    if design == "fov":
        side = int(rng.integers(0, 4))
        out_frac = float(rng.uniform(-0.05, 0.45))  # share of the label beyond the edge
        half_px = 0.5 * (length_m if side < 2 else (bar_height or length_m)) * fx / d
        along = half_px * (1 - 2 * out_frac)
        cu = [along, width - along, 0.5 * width, 0.5 * width][side]
        cv = [0.5 * height, 0.5 * height, along, height - along][side]
        if side < 2:
            cv = float(rng.uniform(0.3, 0.7)) * height
        else:
            cu = float(rng.uniform(0.3, 0.7)) * width
    else:
        cu = float(rng.uniform(min(margin, 0.5 * width), max(width - margin, 0.5 * width)))
        cv = float(rng.uniform(min(margin, 0.5 * height), max(height - margin, 0.5 * height)))
    centre = np.array([(cu - cam.cx) / cam.fx * d, -(cv - cam.cy) / cam.fy * d, -d])
    n0 = -centre / np.linalg.norm(centre)
    u0 = np.cross([0.0, 1.0, 0.0], n0)
    u0 /= np.linalg.norm(u0)
    base = np.stack([u0, np.cross(n0, u0), n0], axis=1)
    # Half the symbols near an image axis (how 1-D codes are usually presented), half at any roll.
    roll = float(rng.uniform(0, 2 * math.pi))
    if rng.random() < 0.5:
        roll = 0.5 * math.pi * int(rng.integers(0, 4)) + math.radians(float(rng.uniform(-8.0, 8.0)))
    phi = float(rng.uniform(0, 2 * math.pi))
    axis = base @ np.array([math.cos(phi), math.sin(phi), 0.0])
    rot = _rotation(axis, math.radians(tilt)) @ base @ _rotation(np.array([0.0, 0.0, 1.0]), roll)

    tgt = TargetModel("/Target", rot, centre, symbology, module, modules, bar_height=bar_height, content=content)
    if blur_motion > 0:
        psi = float(rng.uniform(0, 2 * math.pi))
        direction = math.cos(psi) * rot[:, 0] + math.sin(psi) * rot[:, 1]
        per_speed = math.hypot(*_image_smear(cam, replace(tgt, velocity=direction)))  # pixels per m/s
        tgt = replace(tgt, velocity=direction * (blur_motion * module * fx / d / max(per_speed, 1e-12)))

    lu, lw = tgt.size_with_quiet_zone
    parcel_half = np.array([0.5 * lu + 0.02, 0.5 * lw + 0.02, 0.05])
    parts = [_box_part("/Parcel", rot, centre - rot[:, 2] * (0.05 + 1e-3), parcel_half)]
    if design == "occluded":
        parts.append(_wall(cam, tgt, d, rng))
    return Scene(f"study(seed={seed})#{index}", [cam], [tgt], parts), design


def _image_smear(cam: CameraModel, tgt: TargetModel) -> np.ndarray:
    p = (np.asarray(tgt.position) - cam.position) @ np.asarray(cam.rotation)
    v = np.asarray(tgt.velocity) @ np.asarray(cam.rotation)
    x, y, d = p[0], p[1], -p[2]
    return np.array([cam.fx * (v[0] / d + x * v[2] / d**2), -cam.fy * (v[1] / d + y * v[2] / d**2)]) * cam.exposure


def _wall(cam: CameraModel, tgt: TargetModel, d: float, rng: np.random.Generator) -> MeshPart:
    """A wall at 40-80 % of the way that hides 5-100 % of the symbol's image from one side."""
    corners, _ = project_points(cam, symbol_corners_world(tgt, _SizeOnly(tgt)))
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    frac = float(rng.uniform(0.05, 1.0))
    side = int(rng.integers(0, 4))
    dw = d * float(rng.uniform(0.4, 0.8))
    axis = 0 if side < 2 else 1
    edge = lo[axis] + frac * (hi[axis] - lo[axis]) if side % 2 == 0 else hi[axis] - frac * (hi[axis] - lo[axis])
    big = 4.0 * dw
    if axis == 0:
        x_edge = (edge - cam.cx) / cam.fx * dw
        x0, x1 = (x_edge - big, x_edge) if side % 2 == 0 else (x_edge, x_edge + big)
        y0, y1 = -big, big
    else:
        y_edge = -(edge - cam.cy) / cam.fy * dw
        y0, y1 = (y_edge, y_edge + big) if side % 2 == 0 else (y_edge - big, y_edge)
        x0, x1 = -big, big
    centre = np.array([0.5 * (x0 + x1), 0.5 * (y0 + y1), -dw])
    return _box_part("/Wall", np.eye(3), centre, np.array([0.5 * (x1 - x0), 0.5 * (y1 - y0), 0.0025]))


@dataclass(frozen=True)
class _SizeOnly:
    """A stand-in bitmap for ``symbol_corners_world`` with the target's declared size."""

    tgt: TargetModel

    @property
    def half_size(self) -> tuple[float, float]:
        return (0.5 * self.tgt.size[0], 0.5 * self.tgt.size[1])


def run_study(
    n: int,
    seed: int = 0,
    *,
    device: str | None = None,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> list[Case]:
    """Generate, render and decode ``n`` study cases (deterministic for a seed on a given device)."""
    dev = resolve_device(device)
    for module in ("swb.kernels.evaluate", "swb.kernels.render"):
        wp.load_module(module, device=dev)  # before any worker thread launches

    def one(i: int) -> Case:
        scene, design = study_case(seed, i)
        settings = RenderSettings(seed=seed * 100003 + i)
        return check_pairs(scene, [(0, 0)], device=str(dev), settings=settings, design=design, index=i)[0]

    cases: list[Case] = []
    if workers <= 1:
        for i in range(n):
            cases.append(one(i))
            if progress:
                progress(i + 1, n)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for k, case in enumerate(pool.map(one, range(n))):
                cases.append(case)
                if progress:
                    progress(k + 1, n)
    return cases


def remodel_study(cases: list[Case], seed: int, *, device: str | None = None) -> list[Case]:
    """Saved study cases with the model's side recomputed from their scenes (regenerated from ``seed``) after a
    model change; the rendering and decoding do not depend on the model, so their outcomes are kept."""
    out = []
    for old in cases:
        scene, design = study_case(seed, old.index)
        case = check_pairs(scene, [(0, 0)], device=device, design=design, index=old.index, render=False)[0]
        if case.content != old.content or case.symbology != old.symbology:
            raise SwbError(f"case {old.index} does not come from study seed {seed}",
                           hint="give the --seed the cases were rendered with")
        case.decoded, case.decoded_text, case.window, case.extra = old.decoded, old.decoded_text, old.window, old.extra
        out.append(case)
    return out


# --------------------------------------------------------------------------------------------- verdicts


def _arrays(cases: list[Case]) -> dict[str, np.ndarray]:
    get = lambda name: np.array([getattr(c, name) for c in cases], dtype=np.float64)  # noqa: E731
    return {
        "cls": np.array([CLASS_CODE[c.cls] for c in cases], np.int64),
        "ppm_u": get("ppm_u"), "ppm_w": get("ppm_w"), "b": get("defocus_px"),
        "m_u": get("smear_u"), "m_w": get("smear_w"), "tilt": get("tilt_deg"), "max_tilt": get("max_tilt"),
        "scan": get("scan_margin"), "fov": np.array([c.fov for c in cases]),
        "qz_view": get("qz_view"), "qz_line": get("qz_line"),
        "sym": np.array([SYMBOLOGY_CODE[c.symbology] for c in cases], np.int64),
        "front": np.array([c.front for c in cases]),
        "mask": np.array([c.visible_mask for c in cases], np.int64),
        "vis": get("visible_fraction"), "decoded": np.array([c.decoded for c in cases]),
    }


def profile_verdict(cases: list[Case], profile: DecoderProfile) -> tuple[np.ndarray, np.ndarray]:
    """The model's (decodable, deciding factor code) per case under ``profile``, from the stored metrics.

    The deciding factor is the model's limiting factor, and for decodable cases the factor that would limit
    first (the one nearest its threshold), so agreement can be broken down by factor for every case.
    """
    return _verdict(_arrays(cases), profile)[:2]


def profile_margin(cases: list[Case], profile: DecoderProfile) -> np.ndarray:
    """min(combined margin, angle margin) per case under ``profile`` (how near the case sits to a limit)."""
    return _verdict(_arrays(cases), profile)[2]


def in_view(a: dict[str, np.ndarray], profile: DecoderProfile) -> np.ndarray:
    """The model's field of view under ``profile``'s quiet-zone traits (kernels/visibility.py), per case."""
    line = profile.line_view & (a["cls"] == CLASS_CODE["linear"])
    return np.where(line, a["qz_line"], a["qz_view"]) >= np.asarray(profile.quiet_zone, np.float64)[a["cls"]]


def readable_despite_occlusion(a: dict[str, np.ndarray], min_visible: np.ndarray, clear_row: bool,
                               fov: np.ndarray | None = None) -> np.ndarray:
    """The occlusion trait of the model (kernels/visibility.py) on stored sample masks, per case (``fov``: the
    field of view to use instead of the stored one)."""
    mask = a["mask"]
    bits = (mask[:, None] >> np.arange(N_OCCLUSION_SAMPLES)) & 1
    n_seen = bits.sum(axis=1)
    row = bits.reshape(-1, 3, 3).all(axis=2).any(axis=1) & clear_row & (a["cls"] == CLASS_CODE["linear"])
    need = np.ceil(min_visible * N_OCCLUSION_SAMPLES - 1e-3)
    return (a["fov"] if fov is None else fov) & a["front"] & ((mask == ALL_SEEN) | row | (n_seen >= need))


def _axis_q(a: dict[str, np.ndarray], thr: np.ndarray, b_lim: np.ndarray, ppm: np.ndarray, m: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(q, r_s, r_b) on one module axis; thr and b_lim broadcast against the cases (last axis)."""
    p = LIMIT_NORM_P
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        rs = np.where(ppm > 0, thr / ppm, np.inf)
        rb = np.where(ppm > 0, np.sqrt(a["b"] ** 2 + m**2) / ppm / b_lim, np.inf)
        q = (rs**p + rb**p) ** (1.0 / p)
    return q, rs, rb


def _angle_margin(a: dict[str, np.ndarray], scanline: bool, scan_cover: np.ndarray | float = 0.0,
                  decoder_tilt: np.ndarray | float = 90.0) -> np.ndarray:
    """Tilt margin (the limit: the smaller of the camera's and the decoder's), and for scan-line decoders on 1-D /
    PDF417 the scan-line margin (1 - cover) (h/L) / tan(roll)."""
    limit = np.minimum(a["max_tilt"], decoder_tilt)
    with np.errstate(divide="ignore"):
        angle = np.where(a["tilt"] > 0, limit / a["tilt"], np.inf)
    if scanline:
        scan_cls = (a["cls"] == CLASS_CODE["linear"]) | (a["cls"] == CLASS_CODE["pdf417"])
        angle = np.where(scan_cls, np.minimum(angle, (1.0 - scan_cover) * a["scan"]), angle)
    return angle


def _verdict(a: dict[str, np.ndarray], profile: DecoderProfile) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    thr = np.asarray(profile.ppm_threshold, np.float64)[a["cls"]] * np.asarray(profile.scales())[a["sym"]]
    b_lim = np.asarray(profile.blur_limit, np.float64)[a["cls"]]
    q_u, rs_u, rb_u = _axis_q(a, thr, b_lim, a["ppm_u"], a["m_u"])
    q_w, rs_w, rb_w = _axis_q(a, thr, b_lim, a["ppm_w"], a["m_w"])
    two_d = a["cls"] != CLASS_CODE["linear"]
    use_w = two_d & (q_w > q_u)
    q = np.where(use_w, q_w, q_u)
    rs, rb = np.where(use_w, rs_w, rs_u), np.where(use_w, rb_w, rb_u)
    m = np.where(use_w, a["m_w"], a["m_u"])
    with np.errstate(divide="ignore"):
        combined = np.where(q > 0, 1.0 / q, np.inf)
    angle = _angle_margin(a, profile.scanline, np.asarray(profile.scan_cover, np.float64)[a["cls"]],
                          np.asarray(profile.max_tilt, np.float64)[a["cls"]])
    fov = in_view(a, profile)
    readable = readable_despite_occlusion(a, np.asarray(profile.min_visible, np.float64)[a["cls"]], profile.clear_row,
                                          fov)
    decodable = readable & (combined >= 1.0) & (angle >= 1.0)
    code = np.where(rs >= rb, FACTOR_CODE["resolution"],
                    np.where(a["b"] >= m, FACTOR_CODE["defocus"], FACTOR_CODE["motion"]))
    code = np.where(angle < combined, FACTOR_CODE["angle"], code)
    code = np.where(~readable, FACTOR_CODE["occluded"], code)
    code = np.where(~a["front"], FACTOR_CODE["backfacing"], code)
    code = np.where(~fov, FACTOR_CODE["fov"], code)
    return decodable, code, np.minimum(combined, angle)


@dataclass
class Agreement:
    """Model vs decoder: totals, confusion matrix and the breakdown by deciding factor and by design."""

    n: int
    agree: int
    confusion: dict[str, int]  # tp: both read, fn: model no / decoder yes, fp: model yes / decoder no, tn
    by_factor: dict[str, dict[str, int]]
    by_design: dict[str, dict[str, int]]
    by_class: dict[str, dict[str, int]]
    by_margin: dict[str, dict[str, int]] = field(default_factory=dict)  # near a limit (0.8..1.25) or not

    @property
    def rate(self) -> float:
        return self.agree / self.n if self.n else 1.0

    def to_json(self) -> dict:
        d = asdict(self)
        d["rate"] = self.rate
        return d


def _tally(pred: np.ndarray, dec: np.ndarray) -> dict[str, int]:
    return {"n": int(len(pred)), "agree": int((pred == dec).sum()), "tp": int((pred & dec).sum()),
            "fn": int((~pred & dec).sum()), "fp": int((pred & ~dec).sum()), "tn": int((~pred & ~dec).sum())}


def agreement(cases: list[Case], profile: DecoderProfile | None = None) -> Agreement:
    """Compare the model (as stored per case, or recomputed under ``profile``) with the decode outcomes."""
    if not cases:
        empty = {"n": 0, "agree": 0, "tp": 0, "fn": 0, "fp": 0, "tn": 0}
        return Agreement(0, 0, {k: 0 for k in ("tp", "fn", "fp", "tn")}, {}, {}, {"all": empty})
    dec = np.array([c.decoded for c in cases])
    if profile is None:
        pred = np.array([c.predicted for c in cases])
        _, code = profile_verdict(cases, _stored_profile_guess(cases))
        code = np.where(pred, code, [FACTOR_CODE[c.limiting] if c.limiting else 0 for c in cases])
    else:
        pred, code = profile_verdict(cases, profile)
    total = _tally(pred, dec)
    by_factor = {}
    for k, name in enumerate(FACTORS, start=1):
        sel = code == k
        if sel.any():
            by_factor[name] = _tally(pred[sel], dec[sel])
    designs = np.array([c.design for c in cases])
    by_design = {d: _tally(pred[designs == d], dec[designs == d]) for d in dict.fromkeys(designs.tolist())}
    classes = np.array([c.cls for c in cases])
    by_class = {k: _tally(pred[classes == k], dec[classes == k]) for k in CLASSES if (classes == k).any()}
    margin = profile_margin(cases, profile or _stored_profile_guess(cases))
    near = (margin > NEAR_LIMIT[0]) & (margin < NEAR_LIMIT[1])
    by_margin = {"near": _tally(pred[near], dec[near]), "elsewhere": _tally(pred[~near], dec[~near])}
    conf = {k: total[k] for k in ("tp", "fn", "fp", "tn")}
    return Agreement(total["n"], total["agree"], conf, by_factor, by_design, by_class, by_margin)


def _stored_profile_guess(cases: list[Case]) -> DecoderProfile:
    """Deciding factors of decodable cases need a profile; the zxing one stands in (only ranks the terms)."""
    return PROFILES.get("zxing", ZXING_PROFILE)


# --------------------------------------------------------------------------------------------- fitting


@dataclass(frozen=True)
class Fit:
    profile: DecoderProfile
    train_agreement: float
    test_agreement: float | None  # on the held-out half, fitted on the other half
    method: str


def _best_plateau(values: np.ndarray, scores: np.ndarray) -> float:
    """Centre of the longest run of grid values reaching the best score (robust to a flat optimum)."""
    best = scores.max()
    runs, start = [], None
    for i, hit in enumerate(scores == best):
        if hit and start is None:
            start = i
        if not hit and start is not None:
            runs.append((start, i - 1))
            start = None
    if start is not None:
        runs.append((start, len(scores) - 1))
    a, b = max(runs, key=lambda r: r[1] - r[0])
    return float(values[(a + b) // 2])


T_GRID = np.round(np.arange(0.5, 5.001, 0.05), 2)
B_GRID = np.round(np.arange(0.5, 3.001, 0.05), 2)


V_GRID = np.arange(1, N_OCCLUSION_SAMPLES + 1) / N_OCCLUSION_SAMPLES  # min_visible: 1/9 .. 9/9


C_GRID = np.round(np.arange(0.0, 0.801, 0.05), 2)  # scan_cover of scan-line classes
S_GRID = np.round(np.arange(0.4, 2.501, 0.05), 2)  # threshold_scale of one symbology
Q_GRID = np.round(np.arange(0.0, 1.001, 0.05), 2)  # quiet_zone share
A_GRID = np.arange(30.0, 90.001, 1.0)  # the decoder's tilt limit (max_tilt), degrees
# Symbologies fitted with their own threshold factor: two-width codes whose reader classifies bars as narrow or
# wide (Code 39 at 2:1, ITF at 3:1 in zxing-cpp's writer); the class's T and B come from the others (Code 128,
# EAN/UPC: elements of 1 to 4 modules measured edge to edge).
FIT_SCALED: tuple[str, ...] = ("code39", "itf")


def _class_scores(a: dict[str, np.ndarray], sel: np.ndarray, scanline: bool, covers: np.ndarray,
                  t_grid: np.ndarray = T_GRID, decoder_tilt: float = 90.0) -> np.ndarray:
    """Agreeing cases among ``sel`` for every (scan_cover, B, T) of the grids: (len(covers), len(B), len(T))."""
    sub = {k: v[sel] for k, v in a.items()}
    thr = t_grid[None, None, :, None]
    b_lim = B_GRID[None, :, None, None]
    ok = np.stack([_angle_margin(sub, scanline, c, decoder_tilt) >= 1.0 for c in covers])[:, None, None, :]
    q_u = _axis_q(sub, thr, b_lim, sub["ppm_u"], sub["m_u"])[0]
    q_w = _axis_q(sub, thr, b_lim, sub["ppm_w"], sub["m_w"])[0]
    q = np.where(sub["cls"] != CLASS_CODE["linear"], np.maximum(q_u, q_w), q_u)
    decodable = ok & (q <= 1.0)
    return (decodable == sub["decoded"]).sum(axis=3)


def _fit_cases(a: dict[str, np.ndarray], whole: np.ndarray, scaled: np.ndarray, k: int) -> np.ndarray:
    """Class k's cases for fitting T, B and the tilt limit: seen whole, and for 1-D without the scaled symbologies."""
    sel = whole & (a["cls"] == k)
    return sel & ~scaled if (sel & ~scaled).any() else sel


def _fit_once(cases: list[Case], base: DecoderProfile | None = None) -> DecoderProfile:
    """Fit per class T and B (and the scan-line traits) on the cases seen whole, then the threshold factors of
    ``FIT_SCALED``, then the occlusion traits (min_visible per 2-D class, clear_row for 1-D) on the partly hidden
    cases, then the field-of-view traits (line_view for 1-D, quiet_zone per class) on the cases partly out of view.

    Per class, each choice is the centre of the longest plateau of best agreement: the scan_cover (scan-line
    classes only), then B (by the best agreement over T), then T at that B, then the decoder's tilt limit (30 to
    90 degrees) with them, and T, B and scan_cover once more under that limit; the 1-D class's T, B and tilt come
    from the symbologies not in ``FIT_SCALED``, and each of those then gets its factor on T (the plateau centre, T
    and B fixed). The scan-line trait (on/off) is the one with more agreeing cases over all classes. Occlusion and
    quiet zone: the strictest value (largest min_visible, largest quiet_zone) reaching the best agreement;
    clear_row and line_view only when they agree with more cases than without. Classes without cases keep
    ``base``'s values.
    """
    base = base or ZXING_PROFILE
    a = _arrays(cases)
    seen = a["front"] & (a["qz_view"] >= 1.0)  # in view with the whole quiet zone
    whole = seen & (a["mask"] == ALL_SEEN)
    scaled = np.isin(a["sym"], [SYMBOLOGY_CODE[s] for s in FIT_SCALED])
    scan_classes = (CLASS_CODE["linear"], CLASS_CODE["pdf417"])
    tilts = list(base.max_tilt)
    # T, B and scan_cover under the tilt limits, then the tilt limits under them; twice, so that each is fitted
    # with the other in place.
    for _ in range(2):
        fits: dict[bool, tuple[int, list[float], list[float], list[float]]] = {}
        for scan in (False, True):
            ts, bs, cs, total = list(base.ppm_threshold), list(base.blur_limit), list(base.scan_cover), 0
            for k in range(len(CLASSES)):
                sel = _fit_cases(a, whole, scaled, k)
                if not sel.any():
                    continue
                covers = C_GRID if scan and k in scan_classes else np.array([cs[k]])
                scores = _class_scores(a, sel, scan, covers, decoder_tilt=tilts[k])
                ci = int(np.flatnonzero(covers == _best_plateau(covers, scores.max(axis=(1, 2))))[0])
                cs[k] = float(covers[ci])
                bs[k] = _best_plateau(B_GRID, scores[ci].max(axis=1))
                ts[k] = _best_plateau(T_GRID, scores[ci, int(np.flatnonzero(B_GRID == bs[k])[0])])
                total += int(scores.max())
            fits[scan] = (total, ts, bs, cs)
        scan = fits[True][0] > fits[False][0]
        _, ts, bs, cs = fits[scan]
        for k in range(len(CLASSES)):
            sel = _fit_cases(a, whole, scaled, k)
            if sel.any():
                scores = np.array([_class_scores(a, sel, scan, np.array([cs[k]]), np.array([ts[k]]), tilt)[
                    0, int(np.flatnonzero(B_GRID == bs[k])[0]), 0] for tilt in A_GRID])
                tilts[k] = _best_plateau(A_GRID, scores)
    scale = dict(base.threshold_scale)
    for name in FIT_SCALED:
        sel = whole & (a["sym"] == SYMBOLOGY_CODE[name])
        k = CLASS_CODE[SYMBOLOGIES[name]]
        if sel.any():
            # T and B of the class fixed: a T grid of the class's T times each factor, at the class's B.
            row = _class_scores(a, sel, scan, np.array([cs[k]]), ts[k] * S_GRID, tilts[k])[0, int(np.flatnonzero(
                B_GRID == bs[k])[0])]
            scale[name] = _best_plateau(S_GRID, row)
    fitted = DecoderProfile("zxing", tuple(ts), tuple(bs), scan, "fit", scan_cover=tuple(cs),  # type: ignore[arg-type]
                            threshold_scale=tuple(scale.items()), max_tilt=tuple(tilts))  # type: ignore[arg-type]
    fitted = replace(fitted, min_visible=base.min_visible, clear_row=False, quiet_zone=(1.0,) * len(CLASSES),
                     line_view=False)

    partial = seen & (a["mask"] != ALL_SEEN)
    dec = a["decoded"]
    visible = list(base.min_visible)
    for k in range(len(CLASSES)):
        sel = partial & (a["cls"] == k)
        if not sel.any() or k == CLASS_CODE["linear"]:
            continue
        scores = np.array([(_verdict(a, replace(fitted, min_visible=_with(visible, k, v)))[0][sel] == dec[sel]).sum()
                           for v in V_GRID])
        visible[k] = float(V_GRID[np.flatnonzero(scores == scores.max())[-1]])
    fitted = replace(fitted, min_visible=tuple(visible))
    lin = partial & (a["cls"] == CLASS_CODE["linear"])
    if lin.any():
        agree = [(_verdict(a, replace(fitted, clear_row=row))[0][lin] == dec[lin]).sum() for row in (False, True)]
        fitted = replace(fitted, clear_row=bool(agree[1] > agree[0]))

    out = a["front"] & ~seen  # partly out of view (or their quiet zone is)
    shares = list(fitted.quiet_zone)

    def best_share(profile: DecoderProfile, k: int, sel: np.ndarray) -> tuple[int, float]:
        scores = np.array([(_verdict(a, replace(profile, quiet_zone=_with(shares, k, q)))[0][sel] == dec[sel]).sum()
                           for q in Q_GRID])
        return int(scores.max()), float(Q_GRID[np.flatnonzero(scores == scores.max())[-1]])

    for k in range(len(CLASSES)):
        sel = out & (a["cls"] == k)
        if not sel.any():
            continue
        if k == CLASS_CODE["linear"]:  # line_view with its own best share, on only if it agrees with more cases
            (n_off, q_off), (n_on, q_on) = (best_share(replace(fitted, line_view=v), k, sel) for v in (False, True))
            fitted = replace(fitted, line_view=n_on > n_off)
            shares[k] = q_on if n_on > n_off else q_off
        else:
            shares[k] = best_share(fitted, k, sel)[1]
    return replace(fitted, quiet_zone=tuple(shares))


def _with(values: tuple[float, ...] | list[float], k: int, v: float) -> tuple[float, ...]:
    out = list(values)
    out[k] = float(v)
    return tuple(out)


def fit_profile(cases: list[Case]) -> Fit:
    """Fit the profile (T and B per class, threshold factors, scan-line, occlusion and field-of-view traits) on all
    cases; cross-check by fitting on the even-indexed half and scoring the odd half."""
    usable = [c for c in cases if c.front]
    even = [c for c in usable if c.index % 2 == 0]
    odd = [c for c in cases if c.index % 2 == 1]
    half = _fit_once(even) if even else None
    test = agreement(odd, half).rate if half is not None and odd else None
    full = _fit_once(usable) if usable else ZXING_PROFILE
    method = ("per class: grid search (T 0.5..5 step 0.05, B 0.5..3 step 0.05) maximising the number of cases where "
              "the model agrees with zxing-cpp, on cases seen whole (for each B the centre of the best T plateau, "
              "then the centre of the best B plateau; for 1-D and PDF417 first scan_cover 0..0.8 step 0.05, the "
              "plateau centre); then the decoder's tilt limit (30..90 degrees, plateau centre) and T, B and "
              "scan_cover once more under it; the 1-D class on Code 128 and EAN/UPC, then a factor on T for each of "
              f"{', '.join(FIT_SCALED)} (0.4..2.5 step 0.05, plateau centre, T and B fixed); scan-line trait on/off "
              "by total agreement; then, with T and B fixed, on partly hidden cases: min_visible per 2-D class "
              "(1/9..9/9, the strictest of the best) and clear_row for 1-D (only if it agrees more); then on cases "
              "partly out of view: line_view for 1-D (only if it agrees more) and quiet_zone per class (0..1 step "
              "0.05, the strictest of the best); back-facing cases do not depend on the profile and are left out")
    return Fit(full, agreement(cases, full).rate, test, method)


# --------------------------------------------------------------------------------------------- reporting


def format_report(cases: list[Case], ag: Agreement, title: str) -> str:
    """Plain-text tables: totals, confusion matrix, by deciding factor, by design, by class."""
    lines = [title, f"cases {ag.n}, agreement {ag.agree}/{ag.n} = {100 * ag.rate:.1f} %", "",
             "confusion (rows: model, columns: zxing-cpp)",
             "                     decoded   not decoded",
             f"  decodable         {ag.confusion['tp']:7d}   {ag.confusion['fp']:11d}",
             f"  not decodable     {ag.confusion['fn']:7d}   {ag.confusion['tn']:11d}", ""]

    def table(name: str, rows: dict[str, dict[str, int]]) -> None:
        lines.append(f"{name:<12} {'n':>5} {'agree %':>8} {'model+ dec-':>11} {'model- dec+':>11} {'bias':>7}")
        for key, r in rows.items():
            bias = (r["fp"] - r["fn"]) / r["n"] if r["n"] else 0.0
            lines.append(f"{key:<12} {r['n']:5d} {100 * r['agree'] / max(r['n'], 1):8.1f} {r['fp']:11d} "
                         f"{r['fn']:11d} {100 * bias:+6.1f}%")
        lines.append("")

    table("factor", ag.by_factor)
    table("design", ag.by_design)
    table("class", ag.by_class)
    table("margin", ag.by_margin)
    lines.append("factor: the model's limiting factor (for decodable cases, the one nearest its limit); "
                 "bias = (model+ dec- minus model- dec+) / n; margin: near = min(combined, angle margin) in "
                 f"({NEAR_LIMIT[0]}, {NEAR_LIMIT[1]})")
    return "\n".join(lines)


def save_cases(path, cases: list[Case]) -> None:  # noqa: ANN001
    from pathlib import Path

    docs = [c.to_json() for c in cases]
    for d in docs:
        d["extra"] = {k: v for k, v in d["extra"].items() if k != "pixels"}
    write_text_atomic(Path(path), json.dumps(docs, indent=0))


def load_cases(path) -> list[Case]:  # noqa: ANN001
    from pathlib import Path

    return [Case.from_json(d) for d in json.loads(Path(path).read_text())]
