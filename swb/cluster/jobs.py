"""What a cluster worker is asked to do, as small picklable descriptions, and how it does it.

A job names the stage (``StageRecipe``: the user's file, read at the same path on every node or unpacked from a
shipped USDZ package, under SWB's configuration layer, shipped as USDA text) and the spec prim to read from it
(the sweep or design the driver authored there). A worker opens the stage once per job, builds the same sweep
runner or design evaluator the driver has, checks the digest of its inputs against the driver's, and then
evaluates chunks: a range of configurations (exact integer ``SweepSums``) or a block of candidate cameras (their
pass rows, bit-packed). This module knows nothing of Ray; ``worker.py`` is the Ray actor around it.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pxr import Sdf, Tf, Usd, UsdUtils

from ..errors import SwbError
from ..optimize.evaluator import DesignEvaluator
from ..optimize.passes import build_passes, counted_scene
from ..optimize.safety import design_lights
from ..optimize.spec import read_design
from ..sweep.api import SweepHost, stage_frame
from ..sweep.results import SweepSums
from ..sweep.run import SweepRunner
from ..sweep.spec import read_sweep
from .fingerprint import design_fingerprint, sweep_fingerprint

SWB_ROOT = "/SWB"  # SWB's own prims (specs, results) live under it
BASELINE = "baseline"  # the sweep chunk that evaluates the cameras as authored
Fetch = Callable[[Any], bytes]  # turns a recipe's package handle into its bytes (ray.get on a worker)


@dataclass
class StageRecipe:
    """How to open exactly the stage the driver evaluates: ``opener(scene_path, device=, threads=, config=)``
    (the driver's ``Simulation`` class, passed in so this package does not import it) on the user's file and a
    copy of SWB's configuration layer (edits, sweep and design specs)."""

    opener: Callable[..., SweepHost]
    scene_path: str
    config_usda: str
    package: Any = None  # a handle (Ray object reference) of the stage as a USDZ package, when shipped
    key: str = ""

    def __post_init__(self) -> None:
        if not self.key:
            h = hashlib.blake2b(digest_size=16)
            h.update(self.scene_path.encode())
            h.update(self.config_usda.encode())
            h.update(repr(self.package).encode())
            self.key = h.hexdigest()

    def open(self, device: str, threads: int | None, fetch: Fetch, workdir: Path) -> SweepHost:
        """The composed stage on this machine (its scene model loaded; the Warp world is built on first use)."""
        path = self.scene_path
        if self.package is not None:
            path = str(unpack_package(fetch(self.package), workdir))
        elif not Path(path).exists():
            raise SwbError("the stage is not readable at this path on this node", file=path,
                           hint="every node must see the stage at the same path (a shared folder, or the same "
                           "copy), or ship it with the run (--ship-stage)")
        cached = Sdf.Layer.Find(path)
        if cached is not None:
            cached.Reload()  # still open from an earlier job: read it again if the file changed since
        config = Sdf.Layer.CreateAnonymous("config.usda")
        if not config.ImportFromString(self.config_usda):
            raise SwbError("the configuration layer did not arrive intact", file=path)
        return self.opener(path, device=device, threads=threads, config=config)


def config_text(layer: Sdf.Layer, stage: Usd.Stage) -> str:
    """SWB's configuration layer as USDA text for the workers. Its /SWB prims may be mere ``over``s that the
    driver's results or sweep layer defines; a worker composes only the scene and this layer, so they are written
    as ``def`` wherever the driver's stage has them defined (else the specs under them would not be defined)."""
    copy = Sdf.Layer.CreateAnonymous("config.usda")
    copy.TransferContent(layer)

    def visit(spec: Sdf.PrimSpec) -> None:
        if spec.specifier == Sdf.SpecifierOver:
            prim = stage.GetPrimAtPath(spec.path)
            if prim and prim.IsDefined():
                spec.specifier = Sdf.SpecifierDef
        for child in spec.nameChildren:
            visit(child)

    swb_root = copy.GetPrimAtPath(SWB_ROOT)
    if swb_root:
        visit(swb_root)
    return copy.ExportToString()


def package_stage(scene_path: str | Path) -> bytes:
    """The user's stage with every layer and asset it uses, as a USDZ package (layers keep their own units; absolute
    asset paths are made package-relative): what ``--ship-stage`` sends to the workers."""
    with tempfile.TemporaryDirectory(prefix="swb-ship-") as tmp:
        out = Path(tmp) / "stage.usdz"
        try:
            ok = UsdUtils.CreateNewUsdzPackage(Sdf.AssetPath(str(scene_path)), str(out))
        except Tf.ErrorException as exc:
            raise SwbError(f"cannot be packaged for the workers: {' '.join(str(exc).split())[:200]}",
                           file=str(scene_path)) from None
        if not ok or not out.exists():
            raise SwbError("cannot be packaged for the workers (UsdUtils.CreateNewUsdzPackage failed)",
                           file=str(scene_path), hint="check that every referenced file resolves")
        return out.read_bytes()


def unpack_package(data: bytes, workdir: Path) -> Path:
    """Unpack a shipped package into a fresh folder under ``workdir``; the path of its root layer."""
    folder = Path(tempfile.mkdtemp(prefix="stage-", dir=workdir))
    archive = folder / "stage.usdz"
    archive.write_bytes(data)
    with zipfile.ZipFile(archive) as z:
        names = z.namelist()
        for name in names:
            target = (folder / name).resolve()
            if not target.is_relative_to(folder.resolve()):
                raise SwbError(f"the shipped stage holds a path outside its folder: {name}")
        z.extractall(folder)
    archive.unlink()
    return folder / names[0]  # a USDZ package's first file is its root layer


@dataclass
class SweepJob:
    """Chunks of one sweep: ``(start, stop)`` configuration ranges or ``BASELINE``."""

    recipe: StageRecipe
    sweep: str  # prim path of the SwbSweep the driver authored
    fingerprint: str
    chunk: int | None = None  # configurations per chunk the driver asked for (checked against each worker's memory)
    kind: str = field(default="sweep", init=False)

    @property
    def key(self) -> str:
        return f"sweep:{self.recipe.key}:{self.sweep}:{self.fingerprint}:{self.chunk}"

    def prepare(self, host: SweepHost, threads: int | None) -> SweepRunner:
        frame = stage_frame(host.stage, host.scene)
        spec = read_sweep(_prim(host, self.sweep), str(host.scene_path))
        runner = SweepRunner(host.scene, spec, frame=frame, world=host.world, threads=threads, chunk=self.chunk)
        if sweep_fingerprint(runner) != self.fingerprint:
            runner.close()
            raise _differs(host, "sweep")
        return runner

    @staticmethod
    def chunk_of(state: SweepRunner) -> int:
        return int(state.chunk)

    @staticmethod
    def run(state: SweepRunner, item: Any) -> SweepSums:
        if item == BASELINE:
            return state.evaluate_records(state.builder.baseline())
        start, stop = item
        return state.evaluate_range(int(start), int(stop))

    @staticmethod
    def close(state: SweepRunner) -> None:
        state.close()


@dataclass
class DesignJob:
    """Blocks of candidate cameras of one design: ``(records, frame_rate)`` -> their pass rows, bit-packed."""

    recipe: StageRecipe
    design: str  # prim path of the SwbDesign the driver authored
    fingerprint: str
    kind: str = field(default="design", init=False)

    @property
    def key(self) -> str:
        return f"design:{self.recipe.key}:{self.design}:{self.fingerprint}"

    def prepare(self, host: SweepHost, threads: int | None) -> DesignEvaluator:
        frame = stage_frame(host.stage, host.scene)
        spec = read_design(_prim(host, self.design), str(host.scene_path))
        counted, _ = counted_scene(host.scene, spec.labels)
        passes = build_passes(counted, spec, frame, host.world.face_part)
        if design_fingerprint(passes, host.scene) != self.fingerprint:
            raise _differs(host, "design")
        return DesignEvaluator(host.world, passes, threads, design_lights(host.scene, spec))

    @staticmethod
    def chunk_of(state: DesignEvaluator) -> int:
        return int(state.chunk)

    @staticmethod
    def run(state: DesignEvaluator, item: Any) -> np.ndarray:
        records, frame_rate = item
        return pack_rows(state.pass_rows(records, frame_rate))

    @staticmethod
    def close(state: DesignEvaluator) -> None:
        state.close()


def pack_rows(rows: np.ndarray) -> np.ndarray:
    """(n, P) bool -> (n, ceil(P / 8)) uint8, eight times smaller on the wire."""
    return np.packbits(np.asarray(rows, bool), axis=1, bitorder="little")


def unpack_rows(packed: np.ndarray, n_passes: int) -> np.ndarray:
    return np.unpackbits(packed, axis=1, bitorder="little", count=n_passes).astype(bool)


def _prim(host: SweepHost, path: str):  # noqa: ANN202
    prim = host.stage.GetPrimAtPath(path)
    if not prim:
        raise SwbError("the spec prim is missing from the stage this node opened", file=str(host.scene_path),
                       prim=path, hint="the configuration layer did not reach the worker intact")
    return prim


def _differs(host: SweepHost, what: str) -> SwbError:
    return SwbError(f"this node's copy of the stage gives another {what} than the driver's (other geometry, cameras "
                    "or samples)", file=str(host.scene_path),
                    hint="give every node the same file at the same path and the same SWB, numpy and usd-core "
                    "versions, or ship the stage with the run (--ship-stage)")


def worker_folder(index: int) -> Path:
    """A scratch folder of this worker process (shipped stages are unpacked here), removed at exit."""
    folder = Path(tempfile.mkdtemp(prefix=f"swb-worker-{index}-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


def kernel_cache(index: int, root: str | None) -> Path:
    """This worker's own Warp kernel cache, ``<root>/swb-worker-<index>`` (root: ``$WARP_CACHE_PATH``, else Warp's
    own default ``$XDG_CACHE_HOME/warp`` or ~/.cache/warp), seeded with the SWB kernels already compiled in ``root``
    so that a node whose cache is warm does not compile again; each worker writes only its own folder, so workers
    never race on one cache."""
    xdg = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    base = Path(root or os.environ.get("WARP_CACHE_PATH") or xdg / "warp")
    own = base / f"swb-worker-{index}"
    versions = [v for v in base.iterdir() if v.is_dir() and not v.name.startswith("swb-worker-")] \
        if base.is_dir() else []
    for version in versions:
        for module in version.glob("wp_swb.kernels.*"):
            dest = own / version.name / module.name
            if not module.is_dir() or dest.exists():
                continue
            try:  # copy beside, then rename: a worker never sees half a module
                tmp = Path(tempfile.mkdtemp(prefix=".seed-", dir=_mkdir(own / version.name)))
                shutil.copytree(module, tmp / module.name)
                os.replace(tmp / module.name, dest)
                shutil.rmtree(tmp, ignore_errors=True)
            except OSError:
                pass  # unwritable, or another worker was faster: at worst a compile
    _mkdir(own)
    return own


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
