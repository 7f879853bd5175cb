"""Digests of everything a chunk's numbers depend on, computed by the driver and again by every worker.

A worker opens the stage on its own machine (at the same path, or from a shipped package) and rebuilds the sweep's
design and samples, or the design's label passes, from the spec authored in the configuration layer. If any input
differs (another copy of the file, another SWB or numpy version drawing other samples), its sums would silently
differ: the worker compares digests before it evaluates anything and refuses with a clear error instead.
"""

from __future__ import annotations

import hashlib

import numpy as np

from ..engine.model import Scene
from ..engine.world import pack_cameras, pack_lights
from ..optimize.passes import PassSet
from ..sweep.orientations import SampleSet
from ..sweep.run import SweepRunner


def _digest(arrays: list[np.ndarray]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.view(np.uint8).reshape(-1) if a.size else b"")
    return h.hexdigest()


def _geometry(scene: Scene) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    for part in scene.parts:
        out += [np.asarray(part.points), np.asarray(part.triangles), np.asarray(part.to_world)]
    if scene.lights:
        out.append(pack_lights(scene.lights))
    return out


def _samples(smp: SampleSet) -> list[np.ndarray]:
    return [smp.records, smp.target, smp.weight_int, smp.group, smp.face_group]


def sweep_fingerprint(runner: SweepRunner) -> str:
    """Design values, samples, every sensor camera as authored, geometry and lights of a sweep."""
    scene = runner.scene
    cams = pack_cameras(scene.cameras, scene.source)
    return _digest([runner.design.values, *_samples(runner.samples), cams,
                    np.asarray(runner.builder.varied, np.int64), *_geometry(scene)])


def design_fingerprint(passes: PassSet, scene: Scene) -> str:
    """Label samples and passes, geometry and lights of a design (candidate records travel with each chunk)."""
    return _digest([*_samples(passes.samples), passes.pass_target, passes.weight, passes.positions, passes.speed,
                    passes.spacing, *_geometry(scene)])
