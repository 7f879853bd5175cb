"""Save a simulation as a layered USD stage and restore it exactly; every save is one transaction.

A save of ``station.usda`` is a root file and one layer per role, all of one *generation* (8 hex digits, new for
every save) that the layer names carry:
  station.usda                    root: the sublayers below (relative paths), the stage metadata, and in its
                                  customLayerData the generation, each role's file and the generation that wrote it
  station.<gen>.ui.usda           UI state on /SWB
  station.<gen>.results.usdc      result arrays and target summaries
  station.<gen>.sweep.usdc        sweep result arrays (only when the simulation ran a sweep)
  station.<gen>.config.usda       configuration edits made through SWB
  station.<gen>.scene.usdc        the user's scene, flattened, so the save does not depend on the original file
                                  (a crate file that names no other file is copied byte for byte: the same
                                  scene without USD's flatten and export, which take most of a big station's save)
Each layer also records its generation in its own customLayerData (``swbSave``), except a byte copy of the scene:
the root records its size and BLAKE2b digest (``sceneCopy``) and restore checks them.

The transaction, under an exclusive lock (``fcntl.flock`` on ``.station.swb-lock`` beside the root):
  1. finish a committed earlier save whose companion files were not renamed yet, and remove what killed saves
     left (temporary files, layers of generations no root names);
  2. write the new generation's layers under their new names (nothing existing is touched), then the companion
     files (e.g. ``results.json``) and the root under temporary names;
  3. rename the root into place: the commit point; a kill before it leaves the old save as it was, a kill after
     it leaves the new one (companions are renamed from their temporary names by the next save or restore);
  4. rename the companions into place, then remove the old generation's files.
A save that fails (disk full, permissions) removes what it wrote and leaves the old save intact. Restore takes
the lock shared, reads only the files the root names and refuses a set whose layers record another generation
than the root does. Saves written before generations existed (format 1) still restore.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pxr import Sdf, Usd, UsdUtils

from ..errors import SwbError
from .diagnostics import captured, report
from .layers import (
    copy_stage_metadata,
    export_layer,
    fsync_dir,
    fsync_file,
    open_layer,
    read_layer_fresh,
    with_stage_metadata,
)

ROLES = ("ui", "results", "config", "scene")
SWEEP_ROLE = "sweep"  # optional: written only when the simulation holds sweep results
ALL_ROLES = (*ROLES, SWEEP_ROLE)
_SUFFIX = {"ui": ".usda", "results": ".usdc", "config": ".usda", "scene": ".usdc", SWEEP_ROLE: ".usdc"}
FORMAT_VERSION = 2
STAMP_KEY = "swbSave"  # each layer's own record of the generation that wrote it
_GEN = r"[0-9a-f]{8}"
_ROLE_GROUP = "(?:" + "|".join(ALL_ROLES) + ")"

try:  # POSIX: serialise writers of one save; elsewhere a save relies on the root rename alone
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def _step(name: str) -> None:
    """Called after each step of a save (tests replace it to kill the process there); does nothing."""


@dataclass
class SaveContent:
    """The layers a simulation saves (``swb.simulation.Simulation.save`` fills it; this module knows no Simulation)."""

    scene_path: Path  # the file the simulation reads its scene from
    scene_layer: Sdf.Layer  # that file's layer, flattened into the save's scene copy
    root_layer: Sdf.Layer  # the simulation's root, for the stage metadata
    config: Sdf.Layer
    results: Sdf.Layer
    ui: Sdf.Layer
    sweep: Sdf.Layer  # written only when it holds sweep results
    has_results: bool
    # files beside the root written in the same transaction (name in the root's folder -> content, or a function
    # that writes and fsyncs the file at the temporary path it is given: large results stream to disk), e.g. the
    # results JSON or Parquet file of `swb eval --out`
    companions: Mapping[str, bytes | Callable[[Path], None]] = field(default_factory=dict)
    in_use: frozenset[Path] = frozenset()  # files the simulation reads: never removed by the clean-up
    # the scene file as the simulation read it (``file_signature``), None when unknown: while the file is unchanged
    # and stands alone, a copy of its bytes is its flattened copy
    scene_signature: tuple[int, int, int] | None = None


@dataclass
class SavedLayers:
    """What a save holds, read back: the scene file and SWB's layers (results and sweep only when saved)."""

    scene_path: Path
    config: Sdf.Layer
    ui: Sdf.Layer
    results: Sdf.Layer | None
    sweep: Sdf.Layer | None
    generation: str | None = None  # None for a format-1 save


def file_signature(path: Path) -> tuple[int, int, int] | None:
    """(size, modification time in ns, inode) of a file, None when it cannot be read: what tells that a file is
    still the one that was read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino


CRATE_MAGIC = b"PXR-USDC"


def _stands_alone(content: SaveContent) -> bool:
    """The scene file is a crate file, unchanged since the simulation read it and unedited in memory, and names
    no other file (sublayers, references, payloads or asset-valued attributes: a copy in another folder would
    resolve them elsewhere): a byte copy of it is the flattened scene."""
    path, layer = content.scene_path, content.scene_layer
    if content.scene_signature is None or layer.dirty or file_signature(path) != content.scene_signature:
        return False
    try:
        with open(path, "rb") as fh:
            if fh.read(len(CRATE_MAGIC)) != CRATE_MAGIC:
                return False
    except OSError:
        return False
    with captured():
        try:
            sublayers, references, payloads = UsdUtils.ExtractExternalReferences(str(path))
        except Exception:  # noqa: BLE001 - anything USD cannot list: flatten instead
            return False
    return not (sublayers or references or payloads)


SCENE_COPY_KEY = "sceneCopy"  # the root's record of a scene copied byte for byte: {"bytes": n, "blake2b": hex}


def _copy_scene(source: Path, dest: Path) -> dict[str, Any]:
    """Copy the scene file's bytes to dest; returns the root's record of the copy (its size and BLAKE2b digest:
    the copy is the user's file unchanged, so it carries no stamp of its own)."""
    digest = hashlib.blake2b(digest_size=16)
    size = 0
    with open(source, "rb") as src, open(dest, "wb") as out:
        while chunk := src.read(1 << 22):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
    return {"bytes": size, "blake2b": digest.hexdigest()}


def _is_scene_copy(file: Path, record: Any) -> bool:
    """The file is the byte copy the root recorded (size, then digest)."""
    if not isinstance(record, dict) or not file.is_file() or file.stat().st_size != record.get("bytes"):
        return False
    digest = hashlib.blake2b(digest_size=16)
    with open(file, "rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest() == record.get("blake2b")


def new_generation() -> str:
    """A fresh generation stamp: 8 random hex digits (two saves of one root never share one)."""
    return secrets.token_hex(4)


def generation_paths(root: Path, generation: str, roles: tuple[str, ...] = ALL_ROLES) -> dict[str, Path]:
    """Where each role's layer of ``generation`` goes for a save at root."""
    return {role: root.with_name(f"{root.stem}.{generation}.{role}{_SUFFIX[role]}") for role in roles}


def lock_path(root: Path) -> Path:
    """One lock per stem: saves at station.usda and station.usdc share their layer names, so they take turns."""
    return root.with_name(f".{root.stem}.swb-lock")


@contextmanager
def save_lock(root: Path, *, shared: bool = False) -> Iterator[None]:
    """Hold the save's lock: exclusive for a writer, shared for a reader. The lock file is removed by whoever
    holds it last (a waiter that finds its file gone takes a fresh one). Without fcntl, or in a folder a reader
    cannot write to, it does nothing."""
    if fcntl is None:
        yield
        return
    path = lock_path(root)
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            if shared:  # a read-only folder: nobody can be saving there
                yield
                return
            raise SwbError(f"could not be written: {exc.strerror or exc}", file=str(path)) from None
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        if _same_file(fd, path):
            break
        os.close(fd)  # removed by the holder before us: lock the new one
    try:
        yield
    finally:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # nobody else holds or waits on it
            if _same_file(fd, path):
                path.unlink()
        except OSError:
            pass
        os.close(fd)  # releases the lock


def _same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_ino, a.st_dev) == (b.st_ino, b.st_dev)


def _save_info(layer: Sdf.Layer | None) -> dict[str, Any] | None:
    info = layer.customLayerData.get("swb") if layer is not None else None
    return info if isinstance(info, dict) else None


def _current_info(root: Path) -> dict[str, Any] | None:
    """The save record of the root on disk now, or None (no file, not a save, unreadable)."""
    if not root.is_file():
        return None
    try:
        return _save_info(read_layer_fresh(root))
    except SwbError:
        return None


def check_save_target(root: Path, scene_path: Path, used: set[Path]) -> Path:
    """The resolved root of a save at ``root``, or SwbError when it is no USD name, would overwrite a file the
    scene is made of (``used``: the stage's layer files), or would replace a file that is not an SWB save."""
    root = Path(root).resolve()
    if root.suffix.lower() not in (".usda", ".usd", ".usdc"):
        raise SwbError("a save needs a USD file name", file=str(root), hint="use e.g. station.swb.usda")
    if root in used or root == scene_path:
        raise SwbError("saving here would overwrite a file the scene is made of",
                       file=str(root), hint="save under another name or in another folder")
    if root.is_dir():
        raise SwbError("is a folder, not a file name for a save", file=str(root))
    if root.exists() and _current_info(root) is None:
        raise SwbError("exists and is not an SWB save: saving would replace it", file=str(root),
                       hint="save under another name, or remove the file first")
    return root


def _stamped(layer: Sdf.Layer, generation: str, role: str) -> Sdf.Layer:
    """``layer`` (a fresh copy: the simulation's own layers stay as they are) recording the generation and role in
    its customLayerData."""
    data = dict(layer.customLayerData)
    data[STAMP_KEY] = {"generation": generation, "role": role}
    layer.customLayerData = data
    return layer


def _reusable_scene(root: Path, content: SaveContent) -> tuple[Path, str, dict[str, Any] | None] | None:
    """A restored save re-saved to the same root keeps its scene copy (it is that save's own file): (path,
    generation, the root's record when it is a byte copy)."""
    m = re.fullmatch(re.escape(root.stem) + rf"\.({_GEN})\.scene\.usdc", content.scene_path.name)
    if m is None or content.scene_path.parent != root.parent or not content.scene_path.is_file():
        return None
    info = _current_info(root)
    if info is not None and info.get("scene") == content.scene_path.name and SCENE_COPY_KEY in info:
        record = info[SCENE_COPY_KEY]
        return (content.scene_path, m.group(1), record) if _is_scene_copy(content.scene_path, record) else None
    try:
        stamp = read_layer_fresh(content.scene_path).customLayerData.get(STAMP_KEY)
    except SwbError:
        return None
    if not isinstance(stamp, dict) or stamp.get("generation") != m.group(1):
        return None
    return content.scene_path, m.group(1), None


def write_save(root: Path, content: SaveContent) -> Path:
    """Write ``content`` as a save at root in one transaction (see the module docstring; ``check_save_target``
    first); returns root."""
    root = Path(root)
    for name in content.companions:
        if Path(name).name != name or name.startswith(".") or name == root.name:
            raise ValueError(f"a companion file of a save is a plain file name beside the root, got {name!r}")
    root.parent.mkdir(parents=True, exist_ok=True)
    with save_lock(root):
        _step("locked")
        _recover(root, content.in_use)
        _step("recovered")
        previous = _current_info(root)
        retire = _referenced(root, previous) if previous is not None and previous.get("formatVersion", 1) < 2 \
            else set()
        _write_generation(root, content, new_generation(), retire)
    return root


def _write_generation(root: Path, content: SaveContent, gen: str, retire: set[Path]) -> None:
    roles = list(ROLES)
    if content.sweep.rootPrims:  # optional role: saves without sweeps have no sweep layer
        roles.insert(roles.index("config"), SWEEP_ROLE)
    paths = generation_paths(root, gen, tuple(roles))
    generations = {role: gen for role in roles}
    reused = _reusable_scene(root, content)
    pending: list[tuple[str, Sdf.Layer]] = []
    copy_scene = reused is None and _stands_alone(content)
    scene_copy = None  # the root's record of a byte copy of the scene
    if reused is not None:
        paths["scene"], generations["scene"], scene_copy = reused
    elif not copy_scene:
        with captured() as cap:  # the scene's composition problems were reported when it was loaded
            flat = Usd.Stage.Open(content.scene_layer).Flatten()
        report(cap.others(), str(content.scene_path))
        pending.append(("scene", flat))
    # each sublayer carries the stage's units, up axis and a default prim, so opened alone it is a complete stage
    # that USD's validators accept (composed under the root, that metadata is ignored)
    pending += [(role, with_stage_metadata(layer, content.root_layer)) for role, layer in
                (("config", content.config), ("results", content.results), ("ui", content.ui))]
    if SWEEP_ROLE in roles:
        pending.append((SWEEP_ROLE, with_stage_metadata(content.sweep, content.root_layer)))

    layer = Sdf.Layer.CreateAnonymous("root.usda")
    copy_stage_metadata(content.root_layer, layer)
    layer.subLayerPaths = [f"./{paths[role].name}" for role in roles]
    info = {
        "formatVersion": FORMAT_VERSION,
        "generation": gen,
        "savedAt": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "source": str(content.scene_path),
        "hasResults": content.has_results,
        **{role: paths[role].name for role in roles},
        "generations": dict(generations),
        "companions": dict.fromkeys(content.companions, gen),
    }
    folder = root.parent
    root_tmp = folder / f".{root.name}.{gen}.tmp{root.suffix}"
    companion_tmp = {name: folder / f".{root.name}.{gen}.{name}.tmp" for name in content.companions}
    written: list[Path] = []
    try:
        if copy_scene:
            written.append(paths["scene"])
            scene_copy = _copy_scene(content.scene_path, paths["scene"])
            fsync_file(paths["scene"])
            _step("layer:scene")
        for role, src in pending:
            written.append(paths[role])
            export_layer(_stamped(src, gen, role), paths[role])
            fsync_file(paths[role])
            _step(f"layer:{role}")
        for name, data in content.companions.items():
            written.append(companion_tmp[name])
            if callable(data):
                data(companion_tmp[name])
            else:
                _write_file(companion_tmp[name], data)
            _step(f"companion:{name}")
        written.append(root_tmp)
        layer.customLayerData = {"swb": info | ({SCENE_COPY_KEY: scene_copy} if scene_copy is not None else {})}
        export_layer(layer, root_tmp)
        fsync_file(root_tmp)
        fsync_dir(folder)
        _step("root-written")
        os.replace(root_tmp, root)  # the commit point
    except (Exception, KeyboardInterrupt) as exc:  # Ctrl-C too; a kill leaves them to the next save's clean-up
        for path in written:
            _remove(path)
        if isinstance(exc, OSError):
            raise SwbError(f"could not be written: {exc.strerror or exc}", file=str(root)) from None
        raise
    fsync_dir(folder)
    _step("switched")
    for name, tmp in companion_tmp.items():
        try:
            os.replace(tmp, folder / name)
        except OSError as exc:
            raise SwbError(f"the save is written but {name} could not be put in place: {exc.strerror or exc}",
                           file=str(folder / name), hint="free the name; the next save or restore renames it") \
                from None
        _step(f"renamed:{name}")
    fsync_dir(folder)
    cached = Sdf.Layer.Find(str(root.resolve()))  # a stage opened earlier in this process must see the new root
    if cached is not None:
        cached.Reload(force=True)
    _collect_garbage(root, gen, set(paths.values()), content.in_use, retire)
    _step("cleaned")


def _write_file(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError:  # pragma: no cover - a file another process holds open on Windows: the next save retries
        pass


def _referenced(root: Path, info: dict[str, Any]) -> set[Path]:
    return {root.with_name(info[role]) for role in ALL_ROLES if isinstance(info.get(role), str)}


def _recover(root: Path, in_use: frozenset[Path] = frozenset()) -> None:
    """Finish the committed save at root (companions still under temporary names) and remove what killed saves
    left. Call with the exclusive lock held."""
    info = _current_info(root)
    gen = info.get("generation") if info is not None else None
    if isinstance(gen, str):
        companions = info.get("companions") if isinstance(info.get("companions"), dict) else {}
        for name, cgen in companions.items():
            tmp = root.with_name(f".{root.name}.{cgen}.{name}.tmp")
            if cgen == gen and tmp.is_file():
                os.replace(tmp, root.with_name(name))
        fsync_dir(root.parent)
    keep = _referenced(root, info) if info is not None else set()
    _collect_garbage(root, gen if isinstance(gen, str) else None, keep, in_use)


def _collect_garbage(root: Path, gen: str | None, keep: set[Path], in_use: frozenset[Path],
                     retire: set[Path] | None = None) -> None:
    """Remove, beside root: layers of generations the root does not name, temporary files of this root's saves
    (USD's own export temporaries and a format-1 save's included), and ``retire`` (the fixed-name layers of a
    format-1 save this one replaced). Never a file in ``keep`` or ``in_use``."""
    stem, name = re.escape(root.stem), re.escape(root.name)
    gen_layer = re.compile(rf"{stem}\.{_GEN}\.{_ROLE_GROUP}\.(?:usda|usdc|[A-Za-z0-9]{{6}})")
    temp = re.compile(rf"\.{name}\.([a-z0-9_]{{8}})\..+")
    legacy_temp = re.compile(rf"\.{stem}\.{_ROLE_GROUP}\.(?:usda|usdc)\.[a-z0-9_]{{8}}\..+")
    keep = {p.resolve() for p in keep} | {p.resolve() for p in in_use}
    for suffix in (".usda", ".usd", ".usdc"):  # a save of the same stem with another suffix keeps its layers
        other = root.with_suffix(suffix)
        info = _current_info(other) if other != root else None
        if info is not None:
            keep |= {p.resolve() for p in _referenced(other, info)}
    for path in retire or ():
        if path.resolve() not in keep:
            _remove(path)
    try:
        entries = list(os.scandir(root.parent))
    except OSError:
        return
    for entry in entries:
        if not entry.is_file(follow_symlinks=False):
            continue
        path = Path(entry.path)
        if path.resolve() in keep:
            continue
        m = temp.fullmatch(entry.name)
        if m is not None:
            if not (m.group(1) == gen and entry.name.endswith(".tmp")):  # not a committed save's companion
                _remove(path)
        elif gen_layer.fullmatch(entry.name) or legacy_temp.fullmatch(entry.name):
            _remove(path)


def read_save(path: str | Path) -> SavedLayers:
    """The layers of a save, for ``swb.restore`` to rebuild the simulation from."""
    root_path = Path(path).resolve()
    with save_lock(root_path, shared=True):
        root = read_layer_fresh(root_path)
        info = _save_info(root)
        if info is None:
            raise SwbError("is not an SWB save (no 'swb' entry in customLayerData)", file=str(root_path),
                           hint="open a plain scene with `swb eval` instead")
        pending = _pending_companions(root_path, info)
    if pending:  # a save was killed between its commit and renaming its companions: finish it
        try:
            with save_lock(root_path):
                _recover(root_path)
        except (OSError, SwbError):  # a read-only folder: the layers are complete, only the companions lag
            pass
    with save_lock(root_path, shared=True):
        root = read_layer_fresh(root_path)
        info = _save_info(root) or {}
        return _read_layers(root_path, info)


def _pending_companions(root: Path, info: dict[str, Any]) -> bool:
    gen, companions = info.get("generation"), info.get("companions")
    if not isinstance(gen, str) or not isinstance(companions, dict):
        return False
    return any(root.with_name(f".{root.name}.{gen}.{name}.tmp").is_file() for name in companions)


def _read_layers(root_path: Path, info: dict[str, Any]) -> SavedLayers:
    version = info.get("formatVersion", 1)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise SwbError(f"was written by a newer SWB (save format {version}, this one reads up to "
                       f"{FORMAT_VERSION})", file=str(root_path), hint="upgrade SWB")
    gen = info.get("generation") if version >= 2 else None
    generations = info.get("generations") if isinstance(info.get("generations"), dict) else {}
    layers: dict[str, Sdf.Layer] = {}
    roles = [*ROLES, *([SWEEP_ROLE] if isinstance(info.get(SWEEP_ROLE), str) else [])]
    for role in roles:
        name = info.get(role)
        if not isinstance(name, str):
            raise SwbError(f"the save names no {role} layer", file=str(root_path),
                           attribute=f"customLayerData:swb:{role}")
        file = root_path.parent / name
        if not file.is_file():
            raise SwbError(f"the save's {role} layer is missing ({name})", file=str(root_path),
                           hint="the save is incomplete: restore an intact copy or save again")
        layers[role] = open_layer(file) if role == "scene" else read_layer_fresh(file)
        if role == "scene" and SCENE_COPY_KEY in info:  # a byte copy: the root holds its record
            if not _is_scene_copy(file, info[SCENE_COPY_KEY]):
                raise SwbError(f"the scene copy {name} is not the file this save wrote (its size or BLAKE2b digest "
                               f"differs from the root's record)", file=str(file),
                               hint="the save was mixed or changed by hand; restore an intact copy or save again")
        elif version >= 2:
            _check_generation(layers[role], file, role, generations.get(role, gen), gen)
    return SavedLayers(
        scene_path=root_path.parent / info["scene"],
        config=layers["config"],
        ui=layers["ui"],
        results=layers["results"] if info.get("hasResults") else None,
        sweep=layers.get(SWEEP_ROLE),
        generation=gen,
    )


def _check_generation(layer: Sdf.Layer, file: Path, role: str, expected: Any, root_gen: Any) -> None:
    stamp = layer.customLayerData.get(STAMP_KEY)
    found = stamp.get("generation") if isinstance(stamp, dict) else None
    if found != expected or (isinstance(stamp, dict) and stamp.get("role") != role):
        raise SwbError(
            f"the {role} layer belongs to save generation {found or 'none'}, the root (generation {root_gen}) "
            f"names generation {expected}: the files are of different saves", file=str(file),
            hint="the save was mixed by hand or by an older SWB; restore an intact copy or save again")
