"""Opening user files safely and writing layers atomically.

SWB never edits the file it was given: a simulation composes the user's scene under anonymous layers of its own
(configuration edits, results, UI state), and saving writes new files, each to a temporary name first.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pxr import Sdf, Tf, Usd

from ..errors import SwbError
from .diagnostics import open_quietly

USD_SUFFIXES = (".usd", ".usda", ".usdc")
# Stage metadata is read from the root layer only, so the anonymous root of a simulation copies it from the scene.
STAGE_METADATA = ("metersPerUnit", "upAxis", "defaultPrim", "startTimeCode", "endTimeCode", "timeCodesPerSecond")


def _check_usd_file(path: Path) -> None:
    if not path.exists():
        raise SwbError("no such file", file=str(path), hint="check the path")
    if path.is_dir():
        raise SwbError("is a folder, not a USD file", file=str(path))
    if path.suffix.lower() not in USD_SUFFIXES:
        raise SwbError(f"not a USD file (suffix {path.suffix or 'none'})", file=str(path),
                       hint="give a .usd, .usda or .usdc stage")


def open_layer(path: str | Path) -> Sdf.Layer:
    """The layer at path (shared through USD's layer registry), or a one-line SwbError saying why it cannot be
    read."""
    path = Path(path)
    _check_usd_file(path)
    try:
        layer = Sdf.Layer.FindOrOpen(str(path.resolve()))
    except Tf.ErrorException as exc:
        raise SwbError(f"cannot be parsed as USD: {_first_line(exc)}", file=str(path)) from None
    if layer is None:
        raise SwbError("cannot be parsed as USD", file=str(path), hint="is it a USD file?")
    return layer


def read_layer_fresh(path: str | Path) -> Sdf.Layer:
    """The layer at path as it is on disk now (an anonymous copy, not the registry's possibly older one)."""
    path = Path(path)
    _check_usd_file(path)
    try:
        layer = Sdf.Layer.OpenAsAnonymous(str(path.resolve()))
    except Tf.ErrorException as exc:
        raise SwbError(f"cannot be parsed as USD: {_first_line(exc)}", file=str(path)) from None
    if layer is None:
        raise SwbError("cannot be parsed as USD", file=str(path), hint="is it a USD file?")
    return layer


def export_layer(layer: Sdf.Layer, path: Path) -> None:
    """Export a layer to path (USD writes through its own temporary file); SwbError naming the file on failure."""
    try:
        ok = layer.Export(str(path))
    except Tf.ErrorException as exc:
        raise SwbError(f"could not be written: {_first_line(exc)}", file=str(path)) from None
    if not ok:
        raise SwbError("could not be written", file=str(path), hint="check the disk and permissions")


def fsync_file(path: Path) -> None:
    """Flush a written file to the disk, so a rename that publishes it cannot outlive its content."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (renames, new files) to the disk; a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - file systems without directory fsync
        pass
    finally:
        os.close(fd)


def open_stage(layer: Sdf.Layer) -> Usd.Stage:
    """Open a stage on a layer, turning composition errors into SwbError."""
    try:
        return open_quietly(lambda: Usd.Stage.Open(layer, Usd.Stage.LoadAll), layer.identifier)
    except Tf.ErrorException as exc:
        raise SwbError(f"cannot be composed: {_first_line(exc)}", file=layer.identifier) from None


def copy_stage_metadata(src: Sdf.Layer, dst: Sdf.Layer) -> None:
    """Carry units, up axis and time metadata onto a new root layer (they are only read from the root)."""
    for key in STAGE_METADATA:
        if src.pseudoRoot.HasInfo(key):
            dst.pseudoRoot.SetInfo(key, src.pseudoRoot.GetInfo(key))


def with_stage_metadata(layer: Sdf.Layer, like: Sdf.Layer) -> Sdf.Layer:
    """``layer`` as a file of its own should be: a copy carrying ``like``'s units and up axis and a default prim,
    so that SWB's sublayers (config, results, UI state, overlays) opened alone are complete stages that usd-core's
    validators accept. Composed under a root these are ignored (stage metadata comes from the root layer). The
    default prim is ``like``'s when the layer has a prim there, else the layer's first defined root prim; an empty
    layer gets ``like``'s, held by an ``over`` without opinions (it changes nothing)."""
    out = Sdf.Layer.CreateAnonymous(Path(layer.identifier).suffix or ".usda")
    out.TransferContent(layer)
    root = out.pseudoRoot
    for key in ("metersPerUnit", "upAxis"):
        if like.pseudoRoot.HasInfo(key) and not root.HasInfo(key):
            root.SetInfo(key, like.pseudoRoot.GetInfo(key))
    if not out.defaultPrim:
        roots = list(out.rootPrims)
        names = [r.name for r in roots]
        defined = [r.name for r in roots if r.specifier == Sdf.SpecifierDef]
        name = like.defaultPrim if like.defaultPrim in names else (defined or names or [like.defaultPrim])[0]
        if name:
            if name not in names:  # an empty layer: an over with no opinions holds the default prim
                Sdf.CreatePrimInLayer(out, Sdf.Path.absoluteRootPath.AppendChild(name))
            out.defaultPrim = name
    return out


def export_layers_atomic(pairs: list[tuple[Sdf.Layer, Path]]) -> None:
    """Export every layer to a temporary file beside its destination, then rename them in order.

    On any failure the temporary files, and destinations this call created, are removed: nothing new is left.
    File-system errors (a full disk, a folder in the way) become a one-line SwbError naming the file.
    """
    temps: list[tuple[str, Path]] = []
    moved: list[Path] = []
    dest = pairs[0][1] if pairs else Path()
    try:
        for layer, dest in pairs:
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=dest.suffix, dir=dest.parent)
            os.close(fd)
            temps.append((tmp, dest))
            try:
                ok = layer.Export(tmp)
            except Tf.ErrorException as exc:
                raise SwbError(f"could not be written: {_first_line(exc)}", file=str(dest)) from None
            if not ok:
                raise SwbError("could not be written", file=str(dest), hint="check the disk and permissions")
            os.chmod(tmp, 0o644)  # mkstemp makes 0600; layers are shared files
        existed = {dest: dest.exists() for _, dest in temps}
        for tmp, dest in temps:
            os.replace(tmp, dest)
            if not existed[dest]:
                moved.append(dest)
    except BaseException as exc:
        for tmp, _ in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)
        for done in moved:
            if done.exists():
                done.unlink()
        if isinstance(exc, OSError):
            raise SwbError(f"could not be written: {exc.strerror or exc}", file=str(dest)) from None
        raise
    for _, dest in pairs:  # a stage opened earlier in this process must see the new files
        cached = Sdf.Layer.Find(str(dest.resolve()))
        if cached is not None:
            cached.Reload(force=True)


def export_atomic(layer: Sdf.Layer, path: Path) -> None:
    """Export one layer through a temporary file in the same folder, then rename it over the target."""
    export_layers_atomic([(layer, Path(path))])


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write a file through a temporary file and a rename; errors become a one-line SwbError."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        raise SwbError(f"could not be written: {exc.strerror or exc}", file=str(path)) from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def write_text_atomic(path: Path, text: str) -> None:
    """Write a UTF-8 text file atomically (see write_bytes_atomic)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def _first_line(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    # pxr errors read "Error in 'func' at line N in file F : 'message'": keep the message.
    if " : " in text:
        text = text.split(" : ", 1)[1]
    return text.strip("' ")[:300]
