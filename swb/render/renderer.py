"""Synthetic camera images: symbols encoded by zxing-cpp, ray traced by ``swb.kernels.render``, then a sensor.

The sensor model after the optics: the diffraction core (Gaussian with FWHM 1.03 lambda N / pitch, the model's
figure), photon shot noise for a full well, read noise, and 8-bit quantisation. Radiance 1.0 (a perfect white
lit head-on) maps to 255 DN. The radiance of a pixel depends only on the seed and the pixel, so a window equals
the same window of the full frame; the noise is drawn per window from (seed, camera, window), so an image is
deterministic for a seed on a given device.

Symbols are encoded from ``swb:barcode:content`` (or a generated default) and mapped at the target's module
size, centred on the target. When the encoder produces a different module count than the target declares, the
rendered symbol keeps the module size and its own count; labels carry the rendered corners.
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import warp as wp

from swb.kernels.camera import Camera
from swb.kernels.render import RenderSymbol, Shading, render_kernel

from ..engine.model import CameraModel, Scene, TargetModel
from ..engine.pair_results import PairResults
from ..engine.profiles import FACTORS, factor_name, is_linear
from ..engine.world import World, pack_cameras
from ..errors import SwbError
from ..stage.layers import write_bytes_atomic, write_text_atomic

# swb:barcode:symbology -> zxing-cpp BarcodeFormat name.
ZXING_FORMAT: dict[str, str] = {
    "code128": "Code128",
    "code39": "Code39",
    "ean13": "EAN13",
    "upca": "UPCA",
    "itf": "ITF",
    "pdf417": "PDF417",
    "datamatrix": "DataMatrix",
    "qrcode": "QRCode",
    "aztec": "Aztec",
}
DIFFRACTION_FWHM = 1.03  # in units of wavelength * N, as in the model (docs/model.md, defocus and diffraction)
BAND_PIXELS = 1 << 19  # pixels per band of a banded render: a progress step of about a second on one CPU core
BandProgress = Callable[[int, int], None]  # (pixels done, pixels in the image)
RenderProgress = Callable[[int, int, int], None]  # (camera index, pixels done, pixels in the image)
FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))


def _zxing():
    try:
        import zxingcpp
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise SwbError("zxing-cpp is not installed", hint="pip install zxing-cpp") from exc
    return zxingcpp


def default_content(symbology: str, index: int) -> str:
    """Content for a target without swb:barcode:content, valid for its symbology (numeric where it must be)."""
    digits = f"{(index * 7919 + 12345) % 10**11:011d}"
    if symbology == "ean13":
        return "5" + digits
    if symbology == "upca":
        return digits
    if symbology == "itf":
        return digits[:10]
    if symbology == "code39":
        return f"SWB{index:05d}"
    return f"SWB-{index:06d}"


@dataclass(frozen=True)
class SymbolBitmap:
    """A symbol as the encoder made it: dark cells (row 0 at +w), cell size in metres, the text it carries."""

    dark: np.ndarray  # (rows, cols) bool
    cell: tuple[float, float]  # metres along u, w (1-D: module size, bar height)
    text: str  # what a correct decode returns (the encoder's text, check digits included)
    symbology: str

    @property
    def half_size(self) -> tuple[float, float]:
        rows, cols = self.dark.shape
        return (0.5 * cols * self.cell[0], 0.5 * rows * self.cell[1])


def encode_symbol(target: TargetModel, index: int = 0, source: str = "") -> SymbolBitmap:
    """Encode the target's content with zxing-cpp's writer; a content the symbology rejects is a user error."""
    zx = _zxing()
    content = target.content or default_content(target.symbology, index)
    fmt = getattr(zx.BarcodeFormat, ZXING_FORMAT[target.symbology])
    try:
        code = zx.create_barcode(content, fmt)
    except Exception as exc:  # zxing raises ValueError / RuntimeError subclasses for bad content
        raise SwbError(
            f"zxing-cpp cannot encode {content!r} as {target.symbology}: {exc}",
            file=source or None,
            prim=target.path,
            attribute="swb:barcode:content",
            hint="author a content valid for the symbology (EAN-13: 12 digits, UPC-A: 11, ITF: an even count)",
        ) from exc
    img = np.asarray(code.to_image(scale=1, add_quiet_zones=False))
    dark = img < 128
    if is_linear(target.symbology):
        dark = dark[img.shape[0] // 2][None, :]
        cell = (target.module_size, target.size[1])
    else:
        cell = (target.module_size, target.module_size)
    return SymbolBitmap(dark=dark, cell=cell, text=code.text, symbology=target.symbology)


def label_half_size(target: TargetModel, bitmap: SymbolBitmap) -> tuple[float, float]:
    """The white label: the rendered symbol plus its quiet zone (along u always, along w for 2-D symbols)."""
    q = target.quiet_zone_modules * target.module_size
    hu, hw = bitmap.half_size
    return (hu + q, hw if target.linear else hw + q)


def symbol_corners_world(target: TargetModel, bitmap: SymbolBitmap, time: float = 0.0) -> np.ndarray:
    """(4, 3) corners of the rendered symbol (no quiet zone) in reading order: top-left, top-right,
    bottom-right, bottom-left (top = +w)."""
    rot = np.asarray(target.rotation, dtype=np.float64)
    hu, hw = bitmap.half_size
    signs = np.array([[-1, 1], [1, 1], [1, -1], [-1, -1]], dtype=np.float64)
    centre = np.asarray(target.position, np.float64) + time * np.asarray(target.velocity, np.float64)
    return centre + (signs[:, :1] * hu) * rot[:, 0] + (signs[:, 1:] * hw) * rot[:, 1]


def project_points(cam: CameraModel, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World points -> (pixels (n, 2), depth (n,)) with the model's pinhole (u right, v down)."""
    rot = np.asarray(cam.rotation, dtype=np.float64)
    pc = (np.asarray(points, np.float64) - np.asarray(cam.position, np.float64)) @ rot
    depth = -pc[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = cam.cx + cam.fx * pc[:, 0] / depth
        v = cam.cy - cam.fy * pc[:, 1] / depth
    return np.stack([u, v], axis=1), depth


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur (edges extended), so the sensor model needs nothing beyond numpy."""
    if sigma < 0.05:
        return img
    r = max(1, int(math.ceil(3.0 * sigma)))
    x = np.arange(-r, r + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    k /= k.sum()
    out = np.pad(img, ((r, r), (r, r)), mode="edge")
    out = sum(k[i] * out[:, i:i + img.shape[1]] for i in range(2 * r + 1))  # along x: (h + 2r, w)
    return sum(k[i] * out[i:i + img.shape[0], :] for i in range(2 * r + 1))


@dataclass(frozen=True)
class RenderSettings:
    """Sampling, lighting and sensor parameters of a render (defaults: a clean industrial camera)."""

    spp: int = 16  # samples per pixel (pixel area, aperture and time jointly stratified)
    seed: int = 0
    white: float = 0.85  # label paper reflectance
    surface: float = 0.45  # station geometry (cardboard, painted steel)
    background: float = 0.05  # nothing hit
    ambient: float = 0.35  # share of unshadowed light from everywhere
    light_dir: tuple[float, float, float] | None = None  # towards a directional light; None: ring light
    full_well: float = 10000.0  # electrons at 255 DN (shot noise); 0 disables it
    read_noise: float = 1.5  # DN, standard deviation
    diffraction: bool = True


@dataclass
class RenderedImage:
    """One camera's 8-bit image (or a window of it) and the symbol index seen at each pixel (-1: none)."""

    camera: int
    pixels: np.ndarray  # (h, w) uint8
    ids: np.ndarray  # (h, w) int32
    origin: tuple[int, int]  # (x0, y0) of the window in the full image


class Renderer:
    """Renders a scene's cameras; reuses a ``World`` (its station mesh) when one is given."""

    def __init__(
        self,
        scene: Scene,
        device: str | None = None,
        settings: RenderSettings | None = None,
        world: World | None = None,
    ) -> None:
        self.scene = scene
        self.settings = settings or RenderSettings()
        self._own_world = world is None
        self.world = world if world is not None else World(scene, device, threads=1)
        self.device = self.world.device
        self.bitmaps = [encode_symbol(t, i, scene.source) for i, t in enumerate(scene.targets)]
        self._symbols, self._atlas = self._upload_symbols()
        wp.load_module("swb.kernels.render", device=self.device)

    def _upload_symbols(self) -> tuple[wp.array, wp.array]:
        records, cells, offset = [], [], 0
        pc_white = self.settings.white
        for tgt, bm in zip(self.scene.targets, self.bitmaps, strict=True):
            r = RenderSymbol()
            r.rot = wp.mat33(*np.asarray(tgt.rotation, dtype=np.float64).ravel().tolist())
            r.pos = wp.vec3(*np.asarray(tgt.position, dtype=np.float64).tolist())
            r.velocity = wp.vec3(*np.asarray(tgt.velocity, dtype=np.float64).tolist())
            r.half_label = wp.vec2(*label_half_size(tgt, bm))
            r.half_symbol = wp.vec2(*bm.half_size)
            r.cell = wp.vec2(*bm.cell)
            r.rows, r.cols = int(bm.dark.shape[0]), int(bm.dark.shape[1])
            r.offset = offset
            r.white = pc_white
            r.black = pc_white * (1.0 - float(np.clip(tgt.print_contrast, 0.0, 1.0)))
            records.append(r)
            cells.append(bm.dark.astype(np.uint8).ravel())
            offset += bm.dark.size
        dev = self.device
        symbols = wp.array(records, dtype=RenderSymbol, device=dev) if records else wp.zeros(
            0, dtype=RenderSymbol, device=dev)
        atlas = np.concatenate(cells) if cells else np.zeros(1, np.uint8)
        return symbols, wp.array(atlas, dtype=wp.uint8, device=dev)

    def _shading(self) -> Shading:
        s = Shading()
        d = np.zeros(3) if self.settings.light_dir is None else np.asarray(self.settings.light_dir, np.float64)
        norm = float(np.linalg.norm(d))
        s.light_dir = wp.vec3(*(d / norm if norm > 0 else d).tolist())
        s.ambient = self.settings.ambient
        s.surface = self.settings.surface
        s.background = self.settings.background
        return s

    def focus_distance(self, c: int) -> float:
        """Fixed focus, or autofocus on the nearest target centre in the view (clamped to the focus range)."""
        cam = self.scene.cameras[c]
        if cam.focus_mode != "autofocus":
            return cam.focus_distance
        if not self.scene.targets:
            return cam.focus_distance
        px, depth = project_points(cam, np.array([t.position for t in self.scene.targets]))
        inside = (depth > 0) & (px[:, 0] >= 0) & (px[:, 0] <= cam.width) & (px[:, 1] >= 0) & (px[:, 1] <= cam.height)
        if not inside.any():
            return cam.focus_distance
        d = float(depth[inside].min())
        return float(np.clip(d, cam.focus_range[0], cam.focus_range[1]))

    def radiance(
        self, c: int, window: tuple[int, int, int, int] | None = None, spp: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
        """Mean radiance per pixel of camera c over ``window`` = (x0, y0, x1, y1) (None: the full image)."""
        cam = self.scene.cameras[c]
        x0, y0, x1, y1 = window if window is not None else (0, 0, cam.width, cam.height)
        x0, y0 = max(0, int(x0)), max(0, int(y0))
        x1, y1 = min(cam.width, int(x1)), min(cam.height, int(y1))
        if x1 <= x0 or y1 <= y0:
            raise ValueError(f"empty render window {window} for a {cam.width}x{cam.height} image")
        n = max(1, int(spp if spp is not None else self.settings.spp))
        dev = self.device
        image = wp.zeros((y1 - y0, x1 - x0), dtype=wp.float32, device=dev)
        ids = wp.zeros((y1 - y0, x1 - x0), dtype=wp.int32, device=dev)
        mesh = self.world.mesh
        record = wp.array(pack_cameras([cam], self.scene.source), dtype=Camera, device=dev)
        wp.launch(render_kernel, dim=(y1 - y0, x1 - x0), device=dev,
                  inputs=[record, self.focus_distance(c), self._symbols, self._atlas,
                          mesh.id if mesh is not None else wp.uint64(0), 1 if mesh is not None else 0,
                          self._shading(), x0, y0, n, int(self.settings.seed) & 0x7FFFFFFF, image, ids])
        return image.numpy(), ids.numpy(), (x0, y0)

    def sensor(self, c: int, radiance: np.ndarray, origin: tuple[int, int]) -> np.ndarray:
        """Diffraction, shot and read noise, 8-bit quantisation of a radiance window of camera c."""
        cam = self.scene.cameras[c]
        st = self.settings
        img = np.asarray(radiance, np.float64)
        if st.diffraction and cam.f_number > 0:
            pitch = math.sqrt(cam.pixel_pitch[0] * cam.pixel_pitch[1])
            img = gaussian_blur(img, DIFFRACTION_FWHM * cam.wavelength * cam.f_number / pitch * FWHM_TO_SIGMA)
        dn = 255.0 * img
        x0, y0 = origin
        h, w = img.shape
        rng = np.random.default_rng([int(st.seed) & 0x7FFFFFFF, c, x0, y0, w, h])
        shot = rng.standard_normal((h, w))
        read = rng.standard_normal((h, w))
        if st.full_well > 0:
            dn = dn + shot * np.sqrt(np.maximum(dn, 0.0) * 255.0 / st.full_well)
        dn = dn + read * st.read_noise
        return np.clip(np.rint(dn), 0, 255).astype(np.uint8)

    def render(
        self, c: int, window: tuple[int, int, int, int] | None = None, spp: int | None = None, *,
        threads: int = 1, progress: BandProgress | None = None,
    ) -> RenderedImage:
        """Camera c's 8-bit image (or a window of it). With ``threads`` > 1 or a ``progress`` callback the rays
        are traced in bands of rows (one CPU launch per band, ``threads`` at once); a pixel's radiance does not
        depend on the band, and the sensor model runs on the whole window, so the image is the same bit for bit.
        ``progress(pixels_done, pixels_total)`` is called after each band."""
        if threads <= 1 and progress is None:
            rad, ids, origin = self.radiance(c, window, spp)
        else:
            rad, ids, origin = self._radiance_in_bands(c, window, spp, max(1, int(threads)), progress)
        return RenderedImage(camera=c, pixels=self.sensor(c, rad, origin), ids=ids, origin=origin)

    def _radiance_in_bands(self, c: int, window: tuple[int, int, int, int] | None, spp: int | None, threads: int,
                           progress: BandProgress | None) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
        cam = self.scene.cameras[c]
        x0, y0, x1, y1 = window if window is not None else (0, 0, cam.width, cam.height)
        x0, y0, x1, y1 = max(0, int(x0)), max(0, int(y0)), min(cam.width, int(x1)), min(cam.height, int(y1))
        if x1 <= x0 or y1 <= y0:
            raise ValueError(f"empty render window {window} for a {cam.width}x{cam.height} image")
        rows = max(1, min(y1 - y0, BAND_PIXELS // max(1, x1 - x0)))
        bands = [(y, min(y1, y + rows)) for y in range(y0, y1, rows)]
        rad = np.zeros((y1 - y0, x1 - x0), np.float32)
        ids = np.zeros((y1 - y0, x1 - x0), np.int32)
        total, done = (y1 - y0) * (x1 - x0), 0

        def band(lo: int, hi: int) -> tuple[int, int, np.ndarray, np.ndarray]:
            r, i, _ = self.radiance(c, (x0, lo, x1, hi), spp)
            return lo, hi, r, i

        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="swb-render") as pool:
            for fut in as_completed([pool.submit(band, lo, hi) for lo, hi in bands]):
                lo, hi, r, i = fut.result()
                rad[lo - y0:hi - y0], ids[lo - y0:hi - y0] = r, i
                done += (hi - lo) * (x1 - x0)
                if progress is not None:
                    progress(done, total)
        return rad, ids, (x0, y0)

    def close(self) -> None:
        if self._own_world:
            self.world.close()


def write_png(path: Path, pixels: np.ndarray) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    Image.fromarray(np.asarray(pixels, np.uint8), mode="L").save(buf, format="PNG")
    write_bytes_atomic(Path(path), buf.getvalue())
    return path


def _finite(x: float) -> float | None:
    """JSON has no inf: margins that cannot fail are written as null."""
    x = float(x)
    return x if math.isfinite(x) else None


def image_name(camera_path: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", camera_path.strip("/")) or "camera"


def camera_labels(renderer: Renderer, c: int, image: RenderedImage, pairs: PairResults) -> dict:
    """The label document of one image: each symbol with at least one pixel in it, with the model's verdict."""
    scene = renderer.scene
    cam = scene.cameras[c]
    counts = np.bincount(image.ids[image.ids >= 0].ravel(), minlength=len(scene.targets))
    symbols = []
    for t, tgt in enumerate(scene.targets):
        if counts[t] == 0:
            continue
        bm = renderer.bitmaps[t]
        corners, _ = project_points(cam, symbol_corners_world(tgt, bm))
        symbols.append({
            "target": tgt.path,
            "content": bm.text,
            "symbology": tgt.symbology,
            "corners_px": [[round(float(u), 3), round(float(v), 3)] for u, v in corners],
            "visible_pixels": int(counts[t]),
            "decodable": bool(pairs.decodable[c, t]),
            "limiting": factor_name(int(pairs.limiting[c, t])),
            "score": float(pairs.score[c, t]),
            "metrics": {name: _finite(getattr(pairs, name)[c, t]) for name in (
                "ppm_u", "ppm_w", "tilt_deg", "defocus_px", "motion_px", "visible_fraction", "distance",
                "combined_margin")},
            "margins": {name: _finite(pairs.margins[c, t, k]) for k, name in enumerate(FACTORS)},
        })
    return {
        "camera": cam.path,
        "width": cam.width,
        "height": cam.height,
        "decoder_profile": cam.decoder_profile,
        "corner_order": "top-left, top-right, bottom-right, bottom-left of the symbol (no quiet zone), "
                        "pixel (0, 0) is the top-left corner of the image, at mid-exposure",
        "symbols": symbols,
    }


def export(
    scene: Scene,
    out: Path,
    *,
    device: str | None = None,
    settings: RenderSettings | None = None,
    cameras: list[int] | None = None,
    threads: int = 1,
    progress: RenderProgress | None = None,
) -> list[Path]:
    """Write <camera>.png and <camera>.json for every (selected) camera into ``out``; returns the paths.
    ``threads``: CPU bands traced at once; ``progress(camera, pixels_done, pixels_total)`` after each band."""
    world = World(scene, device, threads=1)
    try:
        world.evaluate()
        pairs = world.results()
        renderer = Renderer(scene, settings=settings, world=world)
        written: list[Path] = []
        for c in cameras if cameras is not None else range(len(scene.cameras)):
            report = None if progress is None else (lambda done, total, c=c: progress(c, done, total))
            image = renderer.render(c, threads=threads if renderer.device.is_cpu else 1, progress=report)
            name = image_name(scene.cameras[c].path)
            written.append(write_png(out / f"{name}.png", image.pixels))
            doc = camera_labels(renderer, c, image, pairs)
            doc["image"] = f"{name}.png"
            label = out / f"{name}.json"
            write_text_atomic(label, json.dumps(doc, indent=1))
            written.append(label)
        return written
    finally:
        world.close()
