"""The scene model: plain, validated dataclasses in SI metres, world frame Z-up.

The loader fills these from a USD stage; the Warp world uploads them. Neither USD nor Warp is imported here,
so the model can be built by hand in tests and by the numpy reference.

Conventions
- World frame: metres, right-handed, Z up (a Y-up stage is rotated +90 deg about X on load).
- Camera frame (USD): +X right, +Y up, looks along -Z. ``rotation`` maps camera axes to world axes
  (its columns are the camera's X, Y, Z axes in world coordinates).
- Image: pixel (0, 0) is the top-left corner, u grows right, v grows down. A camera-frame point (x, y, z) with
  depth zc = -z projects to u = cx + fx * x / zc, v = cy - fy * y / zc.
- Symbol frame (docs/schemas.md): the symbol lies in its local XY plane, centred, readable from +Z; u = local X
  (across the bars / columns), w = local Y. ``rotation`` columns are u, w and the normal in world coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .profiles import DEFAULT_QUIET_ZONE, is_linear
from .spectra import Spectrum


@dataclass(frozen=True)
class CameraModel:
    """One sensor camera: pose, pinhole intrinsics and the optics that blur."""

    path: str
    rotation: np.ndarray  # (3, 3) camera -> world, orthonormal
    position: np.ndarray  # (3,) metres
    width: int  # pixels
    height: int
    focal_length: float  # metres
    aperture: tuple[float, float]  # horizontal, vertical sensor size in metres
    aperture_offset: tuple[float, float] = (0.0, 0.0)  # metres, USD horizontal/verticalApertureOffset
    f_number: float = 0.0  # 0: pinhole, no defocus and no diffraction
    focus_distance: float = 1.0  # metres (fixed focus)
    focus_mode: str = "fixed"  # "fixed" | "autofocus"
    focus_range: tuple[float, float] = (0.0, float("inf"))  # autofocus near, far in metres
    exposure: float = 0.0  # seconds
    clipping: tuple[float, float] = (0.01, 1.0e6)  # metres
    decoder_profile: str = "industrial"
    max_tilt_deg: float = 60.0
    wavelength: float = 625e-9  # metres
    min_exposure: float = 0.002  # lux s on the sensor for a readable signal (checked only when the scene has lights)
    min_read_probability: float = 0.9  # decodable: one frame reads with at least this probability (p_read)
    frame_rate: float = 30.0  # Hz, frames while labels pass (transit read rate)

    @property
    def fx(self) -> float:
        return self.focal_length / self.aperture[0] * self.width

    @property
    def fy(self) -> float:
        return self.focal_length / self.aperture[1] * self.height

    @property
    def cx(self) -> float:
        """Principal point: a positive horizontal offset shifts the view right, so the axis lands left."""
        return 0.5 * self.width - self.aperture_offset[0] / self.aperture[0] * self.width

    @property
    def cy(self) -> float:
        return 0.5 * self.height + self.aperture_offset[1] / self.aperture[1] * self.height

    @property
    def pixel_pitch(self) -> tuple[float, float]:
        return (self.aperture[0] / self.width, self.aperture[1] / self.height)

    @property
    def forward(self) -> np.ndarray:
        """Viewing direction in world coordinates (camera -Z)."""
        return -np.asarray(self.rotation)[:, 2]


@dataclass(frozen=True)
class TargetModel:
    """One barcode symbol placed in the world."""

    path: str
    rotation: np.ndarray  # (3, 3) symbol -> world: columns u, w, normal
    position: np.ndarray  # (3,) symbol centre, metres
    symbology: str
    module_size: float  # metres (narrow element X)
    modules: tuple[int, int]  # columns, rows (1-D: total modules across, 1)
    bar_height: float | None = None  # metres, 1-D only; None: 15 % of the symbol length (GS1 minimum)
    quiet_zone: float | None = None  # modules; None: the symbology default
    print_contrast: float = 0.8
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(3))  # m/s, world
    content: str = ""
    reflectance: float = 0.8  # diffuse reflectance of the light modules (0..1], used only with lights
    glossy: bool = False  # a glossy (laminated, film) label mirrors lights into the camera: glare
    gloss_angle_deg: float = 15.0  # glare while the camera is within this angle of a light's mirror direction

    @property
    def linear(self) -> bool:
        return is_linear(self.symbology)

    @property
    def quiet_zone_modules(self) -> float:
        return DEFAULT_QUIET_ZONE[self.symbology] if self.quiet_zone is None else self.quiet_zone

    @property
    def size(self) -> tuple[float, float]:
        """Symbol extent (u, w) in metres, without the quiet zone."""
        length = self.modules[0] * self.module_size
        if self.linear:
            height = self.bar_height if self.bar_height is not None else 0.15 * length
        else:
            height = self.modules[1] * self.module_size
        return (length, height)

    @property
    def size_with_quiet_zone(self) -> tuple[float, float]:
        """Extent that must be inside the image: the quiet zone pads u always, and w for 2-D symbols."""
        q = 2.0 * self.quiet_zone_modules * self.module_size
        length, height = self.size
        return (length + q, height if self.linear else height + q)

    @property
    def normal(self) -> np.ndarray:
        return np.asarray(self.rotation)[:, 2]


@dataclass(frozen=True)
class LightModel:
    """A light that illuminates the symbols (docs/model.md rule 10) and that people may look into (docs/lighting.md).

    A point source at ``position`` for the illuminance (the emitter is small next to the distances that matter),
    with a luminous intensity pattern about ``direction`` (a UsdLux light's -Z):

        I(theta) = intensity * cos(theta)^planar * |cos(theta)|^focus * cone(theta)

    ``planar`` is 1 for a one-sided flat Lambertian emitter (UsdLux DiskLight, RectLight), 0 for a sphere or a
    measured uniform beam; cone() is 1 inside ``beam_angle_deg``, 0 outside, with UsdLux's smoothstep edge of
    relative width ``softness``. A label at distance d at incidence i gets E = I(theta) cos(i) / d^2 lux unless
    geometry shadows it. ``intensity`` is the candela on the axis while the light is on (a strobe's peak).

    A strobe (``pulse_width`` > 0) is on for ``pulse_width`` seconds every ``pulse_width / duty_cycle``;
    ``synced`` strobes fire at the start of every camera exposure, free-running ones at any phase (SWB assumes
    the worst). ``area`` (m^2, the emitter's area facing along its axis) gives its luminance L = I / area for eye
    safety; ``size`` (m) its two dimensions for the angular subtense; ``spectrum`` (an
    ``swb.engine.spectra.Spectrum`` or None when unknown) what the photobiological weightings need.
    """

    path: str
    position: np.ndarray  # (3,) metres, world
    direction: np.ndarray  # (3,) unit axis of the beam, world (a UsdLux light's -Z)
    intensity: float  # candela on the axis and inside the cone (while on)
    beam_angle_deg: float = 180.0  # cone half-angle in degrees
    planar: int = 0  # 1: a flat one-sided Lambertian emitter, I ~ cos(theta)
    focus: float = 0.0  # UsdLux shaping:focus: I ~ |cos(theta)|^focus
    softness: float = 0.0  # UsdLux shaping:cone:softness in [0, 1]
    pulse_width: float = 0.0  # seconds; 0: continuous
    duty_cycle: float = 1.0  # pulse_width / period, (0, 1]
    synced: bool = True  # a strobe fires with every camera exposure (False: free-running, worst phase)
    area: float = 0.0  # m^2 emitting area facing along the axis (0: unknown)
    size: tuple[float, float] = (0.0, 0.0)  # metres, the emitter's two dimensions (a sphere or disk: diameter)
    spectrum: Spectrum | None = None  # None when unknown (a coloured UsdLux light without swb:light:spectrum)
    radiant: float = 0.0  # W/sr on the axis while on, when authored (infrared sources); 0: intensity / efficacy
    kind: str = ""  # the UsdLux type it came from (SphereLight, DiskLight, RectLight)
    source: str = "measured"  # "measured" (SwbLightAPI luminousIntensity) | "usdlux" (converted)

    @property
    def pulsed(self) -> bool:
        return self.pulse_width > 0.0 and self.duty_cycle < 1.0

    @property
    def period(self) -> float:
        """Seconds between pulse starts (0 for a continuous light)."""
        return self.pulse_width / self.duty_cycle if self.pulsed else 0.0

    def on_time(self, exposure: float) -> float:
        """Seconds this light is on during an exposure of ``exposure`` seconds (docs/lighting.md, strobes):
        synced, n w + min(w, r); free-running, the worst phase n w + max(0, r - (P - w)), with n = floor(T / P),
        r = T - n P."""
        if not self.pulsed or exposure <= 0.0:
            return max(exposure, 0.0)
        p, w = self.period, self.pulse_width
        n = np.floor(exposure / p)
        r = exposure - n * p
        return float(n * w + (min(w, r) if self.synced else max(0.0, r - (p - w))))

    def pattern(self, cos_off: np.ndarray) -> np.ndarray:
        """I(theta) / intensity for the cosine of the angle off the axis (numpy, any shape)."""
        c = np.clip(np.asarray(cos_off, np.float64), -1.0, 1.0)
        out = np.ones_like(c)
        if self.planar:
            out = out * np.maximum(c, 0.0)
        if self.focus > 0.0:
            out = out * np.abs(c) ** self.focus
        return out * cone_window(c, self.beam_angle_deg, self.softness)


def cone_window(cos_off: np.ndarray, beam_angle_deg: float, softness: float) -> np.ndarray:
    """UsdLux ShapingAPI cone: 0 beyond the cone angle, 1 - smoothstep(theta, (1 - softness) cutoff, cutoff)
    inside (softness 0: a hard edge)."""
    c = np.clip(np.asarray(cos_off, np.float64), -1.0, 1.0)
    if beam_angle_deg >= 180.0 and softness <= 0.0:
        return np.ones_like(c)
    cut = np.radians(min(beam_angle_deg, 180.0))
    theta = np.arccos(c)
    inside = (theta <= cut).astype(np.float64)
    if softness <= 0.0:
        return inside
    start = cut * (1.0 - min(softness, 1.0))
    t = np.clip((theta - start) / max(cut - start, 1e-12), 0.0, 1.0)
    return inside * (1.0 - t * t * (3.0 - 2.0 * t))


@dataclass(frozen=True)
class MeshPart:
    """Triangles of one station prim (one instance of an instanced prim), in its own local frame."""

    path: str
    points: np.ndarray  # (n, 3) float, in the prim's own frame and scene units (to_world carries the unit scale)
    triangles: np.ndarray  # (m, 3) int32 indices into points
    to_world: np.ndarray  # (4, 4) column-vector convention (p_world = M @ [p, 1]), metres, Z-up

    def world_points(self) -> np.ndarray:
        m = np.asarray(self.to_world, dtype=np.float64)
        return np.asarray(self.points, dtype=np.float64) @ m[:3, :3].T + m[:3, 3]


@dataclass
class Scene:
    """Everything SWB evaluates, as loaded from one stage."""

    source: str  # the file it came from (for messages)
    cameras: list[CameraModel]
    targets: list[TargetModel]
    parts: list[MeshPart]
    meters_per_unit: float = 1.0  # of the source stage
    up_axis: str = "Z"  # of the source stage
    lights: list[LightModel] = field(default_factory=list)  # none: glare and exposure are not checked

    def camera_index(self, path: str) -> int:
        for i, cam in enumerate(self.cameras):
            if cam.path == path:
                return i
        raise KeyError(path)

    def target_index(self, path: str) -> int:
        for i, tgt in enumerate(self.targets):
            if tgt.path == path:
                return i
        raise KeyError(path)
