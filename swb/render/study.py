"""Cases that check the model against a real decoder: render a camera x target, decode it with zxing-cpp.

Two sources of cases:
- ``validate_scene``: every camera x target of a user's scene whose label reaches into the image.
- ``study_case`` / ``run_study``: randomised single camera x single target scenes (a label on a parcel, an
  optional wall), each designed to probe one factor near its limit (resolution, defocus, motion, angle, fov,
  occluded, backfacing, or several at once), spread over every symbology.
Each case is rendered in a window around the symbol (``swb.render.renderer``), decoded with zxing-cpp restricted to
the symbology, and counted as read only when the decoded text equals the encoded text. The model's verdict comes
from ``swb.engine.world.World`` on the same ``Scene``; the profile-independent metrics that the fitting needs
(smear per axis, scan-line ratio, quiet-zone share in view, which occlusion samples are seen) come from the numpy
reference (``swb.engine.reference.pair_metrics``). ``swb.render.fitting`` scores and fits profiles on the cases.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import warp as wp

from ..engine.devices import resolve_device
from ..engine.model import CameraModel, MeshPart, Scene, TargetModel
from ..engine.profiles import FACTOR_CODE, SYMBOLOGIES, factor_name, is_linear
from ..engine.reference import ReferenceOcclusion, camera_arrays, pair_metrics, quiet_zone_share, target_arrays
from ..engine.verdict import ALL_SEEN, PairMetrics
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
DESIGN_NAMES: tuple[str, ...] = tuple(name for name, _ in DESIGNS)
PITCH = 3.45e-6  # metres: a common global-shutter pixel
RESOLUTIONS = ((1280, 1024), (1440, 1080), (1920, 1200), (2448, 2048))
FOCAL_LENGTHS = (8e-3, 12e-3, 16e-3, 25e-3, 35e-3)
BLUR_SPP = 32  # samples per pixel where defocus or motion blur matters; 16 otherwise
SHARP_SPP = 16
STUDY_MAX_TILT = 90.0  # the study camera's swb:sensor:maxTilt: no reader rule, so the decoder's limit shows


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



def quiet_zone_in_view(cam: CameraModel, tgt: TargetModel, line: bool = False) -> float:
    """The largest share s in [0, 1] of the quiet zone with which the symbol's rectangle (``line``: its centre
    scan line along u) lies inside the image and the clipping range, as the model's field of view tests it;
    -1 when not even the symbol (line) does (exact, from the numpy reference)."""
    return float(quiet_zone_share(camera_arrays([cam]), target_arrays([tgt]), line)[0, 0])


def _reference_metrics(cam: CameraModel, tgt: TargetModel, occlusion: ReferenceOcclusion) -> tuple[PairMetrics,
                                                                                                 dict[str, float]]:
    """The numpy reference's metrics of one pair; occlusion samples are cast whenever the symbol faces the camera,
    also out of view, so a profile with other view traits can be scored on the stored case."""
    metrics, extra = pair_metrics(camera_arrays([cam]), target_arrays([tgt]), occlusion, cast="front")
    return metrics.select((0, 0)), {k: float(v[0, 0]) for k, v in extra.items()}


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
    world = World(scene, device, threads=1, cull=False)  # every metric of every case, in view or not
    try:
        world.evaluate()
        res = world.results()
        renderer = Renderer(scene, settings=settings, world=world)
        occlusion = ReferenceOcclusion.from_parts(scene.parts)
        cases = []
        for c, t in pairs:
            cam, tgt = scene.cameras[c], scene.targets[t]
            m, _ = _reference_metrics(cam, tgt, occlusion)
            case = Case(
                index=index + len(cases), camera=cam.path, target=tgt.path, symbology=tgt.symbology, design=design,
                content=renderer.bitmaps[t].text, module_size=tgt.module_size,
                modules=tuple(int(v) for v in renderer.bitmaps[t].dark.shape[::-1]),
                ppm_u=float(res.ppm_u[c, t]), ppm_w=float(res.ppm_w[c, t]), defocus_px=float(res.defocus_px[c, t]),
                smear_u=float(m.smear_u), smear_w=float(m.smear_w), tilt_deg=float(res.tilt_deg[c, t]),
                max_tilt=cam.max_tilt_deg,
                scan_margin=float(m.scan_ratio), fov=bool(res.margins[c, t, FACTOR_CODE["fov"] - 1] > 0),
                front=bool(res.margins[c, t, FACTOR_CODE["backfacing"] - 1] > 0),
                visible_fraction=float(res.visible_fraction[c, t]), predicted=bool(res.decodable[c, t]),
                limiting=factor_name(int(res.limiting[c, t])),
            )
            # The samples' mask also where the field of view fails, so a profile with other quiet-zone traits
            # can be scored on the stored case.
            case.visible_mask = int(m.seen) if case.front else 0
            case.qz_view, case.qz_line = float(m.qz_view), float(m.qz_line)
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


def study_case(seed: int, index: int, design: str | None = None) -> tuple[Scene, str]:
    """One randomised single camera x single target scene and the factor it was designed to probe. ``design``
    forces that factor (a study aimed at one limit); the draw it replaces is still made, so every other choice of
    the case is the one the unforced study makes."""
    rng = np.random.default_rng([seed, index])
    names, weights = zip(*DESIGNS, strict=True)
    drawn = str(rng.choice(names, p=np.asarray(weights) / sum(weights)))
    if design is not None and design not in names:
        raise SwbError(f"unknown study design {design!r}", hint="one of: " + ", ".join(names))
    design = drawn if design is None else design
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
        per_speed = _image_smear(cam, replace(tgt, velocity=direction))  # pixels per m/s
        tgt = replace(tgt, velocity=direction * (blur_motion * module * fx / d / max(per_speed, 1e-12)))

    lu, lw = tgt.size_with_quiet_zone
    parcel_half = np.array([0.5 * lu + 0.02, 0.5 * lw + 0.02, 0.05])
    parts = [_box_part("/Parcel", rot, centre - rot[:, 2] * (0.05 + 1e-3), parcel_half)]
    if design == "occluded":
        parts.append(_wall(cam, tgt, d, rng))
    return Scene(f"study(seed={seed})#{index}", [cam], [tgt], parts), design


def _image_smear(cam: CameraModel, tgt: TargetModel) -> float:
    """Length in pixels of the target's image smear during the camera's exposure (the reference's motion term)."""
    return _reference_metrics(cam, tgt, ReferenceOcclusion(None, None))[1]["motion_px"]


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
    design: str | None = None,
) -> list[Case]:
    """Generate, render and decode ``n`` study cases (deterministic for a seed on a given device); ``design``:
    every case probes that factor (see ``study_case``)."""
    dev = resolve_device(device)
    for module in ("swb.kernels.evaluate", "swb.kernels.render"):
        wp.load_module(module, device=dev)  # before any worker thread launches

    def one(i: int) -> Case:
        scene, probe = study_case(seed, i, design)
        settings = RenderSettings(seed=seed * 100003 + i)
        return check_pairs(scene, [(0, 0)], device=str(dev), settings=settings, design=probe, index=i)[0]

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
        scene, design = study_case(seed, old.index, old.design if old.design in DESIGN_NAMES else None)
        case = check_pairs(scene, [(0, 0)], device=device, design=design, index=old.index, render=False)[0]
        if case.content != old.content or case.symbology != old.symbology:
            raise SwbError(f"case {old.index} does not come from study seed {seed}",
                           hint="give the --seed the cases were rendered with")
        case.decoded, case.decoded_text, case.window, case.extra = old.decoded, old.decoded_text, old.window, old.extra
        out.append(case)
    return out



def save_cases(path, cases: list[Case]) -> None:  # noqa: ANN001

    docs = [c.to_json() for c in cases]
    for d in docs:
        d["extra"] = {k: v for k, v in d["extra"].items() if k != "pixels"}
    write_text_atomic(Path(path), json.dumps(docs, indent=0))


def load_cases(path) -> list[Case]:  # noqa: ANN001

    return [Case.from_json(d) for d in json.loads(Path(path).read_text())]

