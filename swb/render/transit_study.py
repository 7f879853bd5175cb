"""Rendered conveyor transits: the transit read rate (docs/model.md, rule 12) against zxing-cpp frame by frame.

A transit case is a study scene (``study.study_case``: one camera, one label on its parcel) put on a belt: the
parcel moves across the camera's view at 0.5 to 3 m/s, the camera takes 20 to 60 frames a second with an exposure
that smears 0 to 1.5 modules. For each of ``phases`` frame phases every frame with the label in the image is
rendered and decoded; the transit reads in that phase when any frame decodes. The observed read rate of a case is
the share of phases that read; SWB predicts it with the same frames (``evaluate_transits`` with the same phases),
under both rules for successive frames. Only transits whose outcome is uncertain are rendered (``UNCERTAIN``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace

import numpy as np

from ..engine.model import MeshPart, Scene
from ..engine.transit import default_reach, evaluate_transits
from ..engine.world import World
from .renderer import RenderSettings
from .study import check_pairs, study_case

DESIGNS_KEPT = ("resolution", "defocus", "motion", "angle", "mixed")  # labels that can read: the rest say little
# Transits whose best frame reads with a probability in this range are rendered: the others read in every phase or
# in none (both rules agree there), and rendering them would not tell the rules apart.
UNCERTAIN = (0.05, 0.95)


@dataclass
class TransitCase:
    index: int
    symbology: str
    design: str
    speed: float  # m/s
    frame_rate: float  # Hz
    frames: list[int]  # per phase: frames rendered (label in the image)
    reads: list[bool]  # per phase: some frame decoded
    predicted: float  # safe rule: a camera's frames as one look
    predicted_looks: float  # frames as independent looks
    best_frame_p: float

    @property
    def observed(self) -> float:
        return float(np.mean(self.reads)) if self.reads else 0.0

    def to_json(self) -> dict:
        return {**asdict(self), "observed": self.observed}


def transit_scene(seed: int, index: int) -> tuple[Scene, str] | None:
    """The study case ``index`` of ``seed`` on a belt (None for designs that cannot read: fov, occluded, back)."""
    scene, design = study_case(seed, index)
    if design not in DESIGNS_KEPT:
        return None
    rng = np.random.default_rng([seed, index, 7])
    cam, tgt = scene.cameras[0], scene.targets[0]
    forward = np.asarray(cam.forward)
    a = rng.normal(size=3)
    a -= forward * float(a @ forward)  # across the view
    direction = a / np.linalg.norm(a)
    speed = float(rng.uniform(0.5, 3.0))
    smear_modules = float(rng.uniform(0.0, 1.5))
    exposure = smear_modules * tgt.module_size / speed
    cam = replace(cam, exposure=exposure, frame_rate=float(rng.uniform(20.0, 60.0)))
    tgt = replace(tgt, path="/Parcel/Label", velocity=direction * speed)
    parts = [replace(scene.parts[0], path="/Parcel/Box")]
    return Scene(f"transit(seed={seed})#{index}", [cam], [tgt], parts), design


def _moved(scene: Scene, offset: np.ndarray) -> Scene:
    tgt = scene.targets[0]
    box: MeshPart = scene.parts[0]
    to_world = np.array(box.to_world, np.float64)
    to_world[:3, 3] += offset
    return replace(scene, targets=[replace(tgt, position=np.asarray(tgt.position) + offset)],
                   parts=[replace(box, to_world=to_world)])


def _in_image(scene: Scene, offset: np.ndarray) -> bool:
    cam, tgt = scene.cameras[0], scene.targets[0]
    p = np.asarray(cam.rotation).T @ (np.asarray(tgt.position) + offset - np.asarray(cam.position))
    d = -p[2]
    if d <= cam.clipping[0]:
        return False
    u, v = cam.cx + cam.fx * p[0] / d, cam.cy - cam.fy * p[1] / d
    return 0.0 <= u <= cam.width and 0.0 <= v <= cam.height


def run_transit_case(seed: int, index: int, phases: int, device: str | None) -> TransitCase | None:
    made = transit_scene(seed, index)
    if made is None:
        return None
    scene, design = made
    cam, tgt = scene.cameras[0], scene.targets[0]
    world = World(scene, device, threads=1)
    try:
        world.evaluate()
        tr = evaluate_transits(world, phases=phases)
    finally:
        world.close()
    if not UNCERTAIN[0] <= float(tr.best_p[0, 0]) <= UNCERTAIN[1]:
        return None
    reach = float(default_reach(scene.cameras, scene.targets)[0])
    step = np.asarray(tgt.velocity) / cam.frame_rate
    half = math.ceil(reach / float(np.linalg.norm(step)))
    frames, reads = [], []
    for j in range(phases):
        phase = (j + 0.5) / phases
        offsets = [(k + phase) * step for k in range(-half, half + 1)]
        shown = [o for o in offsets if _in_image(scene, o)]
        read = False
        for n, offset in enumerate(shown):
            settings = RenderSettings(seed=(seed * 100003 + index) * 64 + j * 8 + n)
            case = check_pairs(_moved(scene, offset), [(0, 0)], device=device, settings=settings, design="transit",
                               index=index)[0]
            if case.decoded:
                read = True
                break  # the transit reads: later frames do not change it
        frames.append(len(shown))
        reads.append(read)
    return TransitCase(index, tgt.symbology, design, float(np.linalg.norm(tgt.velocity)), cam.frame_rate, frames,
                       reads, float(tr.read_rate[0]), float(tr.read_rate_looks[0]), float(tr.best_p[0, 0]))


def run_transit_study(n: int, seed: int, *, phases: int = 6, device: str | None = None, workers: int = 1,
                      progress: Callable[[int, int], None] | None = None) -> list[TransitCase]:
    """Render the uncertain transits among ``n`` study indices (``UNCERTAIN``) and decode every frame."""
    def one(i: int) -> TransitCase | None:
        return run_transit_case(seed, i, phases, device)

    out: list[TransitCase] = []
    with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
        for k, case in enumerate(pool.map(one, range(n))):
            if case is not None:
                out.append(case)
            if progress:
                progress(k + 1, n)
    return out


def transit_report(cases: list[TransitCase]) -> dict:
    """Predicted vs observed transit read rates under both frame rules."""
    obs = np.array([c.observed for c in cases])
    rep: dict = {"transits": len(cases), "phases": len(cases[0].reads) if cases else 0,
                 "observed_mean": float(obs.mean()) if len(obs) else 0.0}
    for name, pred in (("safe", np.array([c.predicted for c in cases])),
                       ("independent_looks", np.array([c.predicted_looks for c in cases]))):
        err = pred - obs
        rep[name] = {"predicted_mean": float(pred.mean()) if len(pred) else 0.0,
                     "mean_error": float(err.mean()) if len(err) else 0.0,
                     "mean_abs_error": float(np.abs(err).mean()) if len(err) else 0.0,
                     "within_2_points": float((np.abs(err) <= 0.02).mean()) if len(err) else 0.0,
                     "optimistic_by_10_points": int((err > 0.10).sum())}
    return rep


def format_transit_report(rep: dict) -> str:
    lines = [f"{rep['transits']} rendered transits, {rep['phases']} frame phases each; observed read rate (share of "
             f"phases in which some frame decoded), mean {100 * rep['observed_mean']:.1f} %"]
    for name in ("safe", "independent_looks"):
        r = rep[name]
        lines.append(f"  {name:<18} predicted mean {100 * r['predicted_mean']:5.1f} %, error mean "
                     f"{100 * r['mean_error']:+5.1f} points, mean |error| {100 * r['mean_abs_error']:4.1f} points, "
                     f"within 2 points {100 * r['within_2_points']:4.1f} %, optimistic by > 10 points: "
                     f"{r['optimistic_by_10_points']}")
    return "\n".join(lines)
