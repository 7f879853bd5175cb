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
    """A light that illuminates the symbols (docs/model.md, rule 10): a point source emitting a uniform cone.

    Luminous intensity in candela inside the cone (half-angle ``beam_angle_deg`` about ``direction``; 180 means
    every direction), none outside, so a label at distance d with the light at incidence i gets an illuminance
    E = intensity * cos(i) / d^2 lux unless geometry shadows it.
    """

    path: str
    position: np.ndarray  # (3,) metres, world
    direction: np.ndarray  # (3,) unit axis of the beam, world (a UsdLux light's -Z)
    intensity: float  # candela on the axis and inside the cone
    beam_angle_deg: float = 180.0  # cone half-angle in degrees


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
