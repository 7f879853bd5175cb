"""The sweep's bin culling and unseen-share accounting (swb/sweep/culling.py) change no sum."""

from __future__ import annotations

import numpy as np
import pytest
from device import DEVICE
from sweep_checks import assert_sums_match_detail

import swb.sweep.run as run
from swb.engine.station_generator import generate_station
from swb.sweep.candidates import StageFrame
from swb.sweep.culling import sample_bins
from swb.sweep.run import SweepRunner
from swb.sweep.spec import spec_from_dict

SCENE = generate_station(n_triangles=20_000, n_cameras=8, n_targets=300, seed=4)


def _spec(cams: list[str]) -> object:
    doc = {
        "sweep": {"name": "cull", "cameras": cams, "sampler": "lhs", "samples": 24, "seed": 2,
                  "orientation_mode": "flatRandomYaw", "orientations": 3},
        "parameter": [
            {"name": "height", "kind": "translateZ", "cameras": cams, "range": [-0.8, 0.4]},
            {"name": "pitch", "kind": "pitch", "space": "camera", "cameras": cams, "range": [-25.0, 25.0]},
            {"name": "yaw", "kind": "yaw", "cameras": cams, "range": [-40.0, 40.0]},
        ],
    }
    return spec_from_dict(doc, 1.0)


def _sums(spec, span: int | None = None) -> list[np.ndarray]:  # noqa: ANN001
    runner = SweepRunner(SCENE, spec, frame=StageFrame(), device=DEVICE, threads=2)
    runner.span = span or runner.span
    try:
        s = runner.evaluate_range(0, runner.design.n)
    finally:
        runner.close()
    return [s.covered, s.redundant, s.unique, s.limiting]


def test_bins_hold_their_samples() -> None:
    runner = SweepRunner(SCENE, _spec([c.path for c in SCENE.cameras[:2]]), frame=StageFrame(), device=DEVICE)
    recs = runner.samples.records
    runner.close()
    bins, centres, radii = sample_bins(recs, 8)
    reach = np.linalg.norm(recs["half_size_qz"], axis=1) * 1.01 + 1e-5
    gap = np.linalg.norm(recs["pos"] - centres[bins], axis=1) + reach - radii[bins]
    assert gap.max() < 0
    assert np.bincount(bins).max() == 8


@pytest.mark.parametrize("n_varied", [3, 8])  # with fixed cameras, and every camera varied
def test_culling_changes_no_sum(monkeypatch: pytest.MonkeyPatch, n_varied: int) -> None:
    spec = _spec([c.path for c in SCENE.cameras[:n_varied]])
    culled = _sums(spec)

    def never_cull(records, size=32):  # noqa: ANN001, ANN202
        bins, centres, radii = sample_bins(records, size)
        return bins, centres, np.full_like(radii, 1e6)

    monkeypatch.setattr(run, "sample_bins", never_cull)
    uncut = _sums(spec)
    for a, b in zip(culled, uncut, strict=True):
        np.testing.assert_array_equal(a, b)
    assert culled[0].min() < culled[0].max()  # the configurations differ, so the sums mean something


def test_samples_per_thread_change_no_sum() -> None:
    """One sample a thread (a GPU's launch), a bin's run (the CPU's) and runs that straddle bins give the same
    sums."""
    spec = _spec([c.path for c in SCENE.cameras[:3]])
    one = _sums(spec, 1)
    for span in (5, 32, 100):
        for a, b in zip(one, _sums(spec, span), strict=True):
            np.testing.assert_array_equal(a, b)
    assert one[0].min() < one[0].max()


def test_skipped_cameras_change_no_sum() -> None:
    """The sweep skips cameras that surely neither read a sample nor come closest to it (facing away, or a
    resolution bound below the decodable floor: ``cannot_matter``); each configuration's sums equal those of its
    full per-camera detail, which skips nothing."""
    spec = _spec([c.path for c in SCENE.cameras[:3]])
    runner = SweepRunner(SCENE, spec, frame=StageFrame(), device=DEVICE, threads=2)
    try:
        sums = runner.evaluate_range(0, runner.design.n)
        for i in range(0, runner.design.n, 3):
            assert_sums_match_detail(runner, sums, i, i)
        assert sums.limiting[:, 3].max() > 0  # unread samples limited by resolution: the bound had work to do
    finally:
        runner.close()


def test_candidate_matrix_skips_change_no_verdict() -> None:
    """The optimiser's candidate matrix (``candidate_bits``, which skips pairs out of view, facing away or below the
    decodable floor by the resolution bound) equals the full per-pair verdicts of the same cameras."""
    from types import SimpleNamespace

    from swb.engine.world import World, pack_cameras
    from swb.optimize.evaluator import DesignEvaluator
    from swb.sweep.orientations import build_samples

    world = World(SCENE, device=DEVICE)
    try:
        samples = build_samples(SCENE, _spec([SCENE.cameras[0].path]), StageFrame(), world.face_part)
        evaluator = DesignEvaluator(world, SimpleNamespace(samples=samples), threads=2)
        records = pack_cameras(SCENE.cameras, SCENE.source)
        full = evaluator.verdicts(records).decodable
        np.testing.assert_array_equal(evaluator.decodable(records), full)
        assert 0 < full.sum() < full.size
    finally:
        world.close()
