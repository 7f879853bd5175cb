"""USD's own diagnostics, caught and folded into SWB's one-line messages.

USD prints its warnings (a missing reference, a cycle, an unreadable MaterialX file) straight to stderr, one or
many lines per problem, beside SWB's own error. ``captured()`` installs USD's ``UsdUtils.CoalescingDiagnosticDelegate``
(with a delegate installed USD prints nothing itself) and hands back what USD said as ``UsdMessage`` objects;
nested captures share one delegate.

Composition problems are judged from ``stage.GetCompositionErrors()`` by ``check_composition`` (the loader calls it):
  - an asset that cannot be opened but carries no geometry (a MaterialX look, a shader, a texture, anything
    referenced by a Material, Shader or NodeGraph prim) does not change what occludes or what is read: one
    warning line (``SwbWarning``) and the stage loads;
  - a missing geometry reference, payload or sublayer is an error, unless missing assets are allowed
    (``allowing_missing()``, the CLI's ``--allow-missing``): then one warning line lists what is missing;
  - anything else (a cycle, a bad prim path, ...) is an error.
The permission is remembered per stage, so reloading the same stage later does not fail or warn again.
"""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from pxr import Pcp, Usd, UsdUtils

from ..errors import SwbError, SwbWarning

# Files that describe looks, not shapes: unresolvable ones never change the geometry SWB reads.
NON_GEOMETRY_SUFFIXES = frozenset({
    ".mtlx", ".osl", ".oso", ".glslfx", ".sdr", ".mdl", ".shadergraph",
    ".png", ".jpg", ".jpeg", ".exr", ".hdr", ".tif", ".tiff", ".tx", ".tga", ".bmp", ".ktx", ".ktx2", ".dds",
})
SHADING_TYPES = frozenset({"Material", "Shader", "NodeGraph"})
_ASSET_ERRORS = frozenset({Pcp.ErrorType_InvalidAssetPath, Pcp.ErrorType_MutedAssetPath})
_MISSING_ERRORS = _ASSET_ERRORS | {Pcp.ErrorType_InvalidSublayerPath, Pcp.ErrorType_UnresolvedPrimPath}
_COMPOSITION_SOURCES = ("_ReportErrors", "_ReportPcpErrors")  # USD's own print-out of composition errors
_ASSET = re.compile(r"@([^@]+)@")
_ANON = re.compile(r",?@anon:0x[0-9a-fA-F]+:[^@]*@")
_INSTANTIATING = re.compile(r"\s*\(instantiating stage on stage @[^@]*@ <0x[0-9a-fA-F]+>\)")
_MAX_LISTED = 3

ALLOW_MISSING: ContextVar[bool] = ContextVar("swb_allow_missing", default=False)
_permitted: set[str] = set()  # stages (root layer identifiers) opened while missing assets were allowed
_warned: set[tuple[str, str]] = set()  # (stage, warning) pairs already reported


@dataclass(frozen=True)
class UsdMessage:
    """One diagnostic USD posted: its kind (warning, status, error), the text on one line, the C++ function."""

    kind: str
    text: str
    source: str

    @property
    def composition(self) -> bool:
        """USD's own report of a composition error (SWB reads those from the stage instead)."""
        return self.source.endswith(_COMPOSITION_SOURCES)


@dataclass
class Capture:
    """What USD said inside a ``captured()`` block (filled when the block ends)."""

    messages: list[UsdMessage] = field(default_factory=list)

    def others(self) -> list[UsdMessage]:
        """The messages that are not composition errors (those reach the user through check_composition)."""
        return [m for m in self.messages if not m.composition]


class _Delegate:
    """The one installed USD delegate (process-wide, like USD's diagnostics) and what it collected so far."""

    lock = threading.Lock()
    depth = 0
    delegate: UsdUtils.CoalescingDiagnosticDelegate | None = None
    pending: list[UsdMessage] = []

    @classmethod
    def drain(cls) -> None:
        if cls.delegate is not None:
            cls.pending.extend(_message(d) for d in cls.delegate.TakeUncoalescedDiagnostics())


def _message(diag: object) -> UsdMessage:
    code = str(getattr(diag, "diagnosticCodeString", ""))
    kind = "error" if "ERROR" in code else "status" if "STATUS" in code else "warning"
    return UsdMessage(kind, clean(str(getattr(diag, "commentary", ""))), str(getattr(diag, "sourceFunction", "")))


def clean(text: str) -> str:
    """USD's text on one line, without anonymous layer names and the 'instantiating stage' tail."""
    text = _INSTANTIATING.sub("", _ANON.sub("", text))
    return " ".join(text.split())


@contextmanager
def captured() -> Iterator[Capture]:
    """Catch everything USD posts inside the block (nothing reaches stderr); the Capture holds it afterwards."""
    cap = Capture()
    with _Delegate.lock:
        if _Delegate.depth == 0:
            _Delegate.delegate = UsdUtils.CoalescingDiagnosticDelegate()
            _Delegate.pending = []
        _Delegate.depth += 1
        _Delegate.drain()
        start = len(_Delegate.pending)
    try:
        yield cap
    finally:
        with _Delegate.lock:
            _Delegate.drain()
            cap.messages = _Delegate.pending[start:]
            del _Delegate.pending[start:]
            _Delegate.depth -= 1
            if _Delegate.depth == 0:
                _Delegate.delegate = None  # dropping it unregisters it: USD prints again


def summary(messages: list[UsdMessage], limit: int = 240) -> str:
    """Several USD messages as one short line: the first in full (up to ``limit``), then how many more."""
    if not messages:
        return ""
    first = messages[0].text
    if len(first) > limit:
        first = first[: limit - 3] + "..."
    more = f" (and {len(messages) - 1} more)" if len(messages) > 1 else ""
    return f"USD: {first}{more}"


@contextmanager
def allowing_missing(allow: bool = True) -> Iterator[None]:
    """Inside the block, stages opened may miss geometry assets (a warning lists them) instead of failing."""
    token = ALLOW_MISSING.set(bool(allow))
    try:
        yield
    finally:
        ALLOW_MISSING.reset(token)


@dataclass(frozen=True)
class _Problem:
    kind: str  # "look", "missing" or "other"
    prim: str | None
    asset: str | None
    text: str

    def short(self) -> str:
        if self.asset is None:
            return self.text
        where = f" at {self.prim}" if self.prim and self.prim != "/" else " (sublayer)" if self.prim == "/" else ""
        return f"{PurePosixPath(self.asset).name}{where}"


def _classify(stage: Usd.Stage, error: object) -> _Problem:
    text = clean(str(error))
    site = getattr(error, "rootSite", None)
    prim = str(site.path) if site is not None and hasattr(site, "path") else None
    etype = getattr(error, "errorType", None)
    match = _ASSET.search(text)
    asset = match.group(1).split(":SDF_FORMAT_ARGS:", 1)[0] if match else None
    if etype in _ASSET_ERRORS and asset is not None:
        if PurePosixPath(asset).suffix.lower() in NON_GEOMETRY_SUFFIXES or _in_shading(stage, prim):
            return _Problem("look", prim, asset, text)
    if etype in _MISSING_ERRORS:
        return _Problem("missing", prim, asset, text)
    return _Problem("other", prim, asset, text)


def _in_shading(stage: Usd.Stage, prim_path: str | None) -> bool:
    """Is the prim (or one of its ancestors) a Material, Shader or NodeGraph: a look, not a shape?"""
    if not prim_path or prim_path == "/":
        return False
    prim = stage.GetPrimAtPath(prim_path)
    while prim and not prim.IsPseudoRoot():
        if prim.GetTypeName() in SHADING_TYPES:
            return True
        prim = prim.GetParent()
    return False


def _listing(problems: list[_Problem]) -> str:
    names = ", ".join(p.short() for p in problems[:_MAX_LISTED])
    return names + (f" and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else "")


def check_composition(stage: Usd.Stage, file: str) -> None:
    """Judge the stage's composition errors (see the module docstring): SwbError, or one SwbWarning per kind."""
    errors = stage.GetCompositionErrors()
    if not errors:
        return
    key = stage.GetRootLayer().identifier
    problems = [_classify(stage, e) for e in errors]
    other = [p for p in problems if p.kind == "other"]
    missing = [p for p in problems if p.kind == "missing"]
    looks = [p for p in problems if p.kind == "look"]
    if other:
        more = f" (and {len(problems) - 1} more composition errors)" if len(problems) > 1 else ""
        raise SwbError(f"composition error: {other[0].text[:300]}{more}", file=file, prim=other[0].prim,
                       hint="fix or remove the broken reference, payload or sublayer")
    if missing:
        if not (ALLOW_MISSING.get() or key in _permitted):
            raise SwbError(
                f"cannot open {len(missing)} referenced asset{'s' if len(missing) > 1 else ''} that may hold "
                f"geometry: {_listing(missing)}", file=file, prim=missing[0].prim,
                hint="fix the paths, or go on without them: --allow-missing, swb.open(..., allow_missing=True)")
        _permitted.add(key)
        _warn_once(key, f"file {file}: going on without {len(missing)} missing asset{'s' if len(missing) > 1 else ''}"
                   f" (--allow-missing): {_listing(missing)}; their geometry is not in the scene")
    if looks:
        _warn_once(key, f"file {file}: {len(looks)} material/look asset{'s' if len(looks) > 1 else ''} could not "
                   f"be opened ({_listing(looks)}); materials do not change the geometry, going on")


def _warn_once(key: str, text: str) -> None:
    if (key, text) in _warned:
        return
    _warned.add((key, text))
    warnings.warn(SwbWarning(text), stacklevel=3)


def report(messages: list[UsdMessage], file: str | None = None) -> None:
    """USD messages that SWB does not judge itself, as one warning line (none when there are none)."""
    if messages:
        where = f"file {file}: " if file and not file.startswith("anon:") else ""
        warnings.warn(SwbWarning(f"{where}{summary(messages)}"), stacklevel=3)


def open_quietly(open_stage: Callable[[], Usd.Stage], file: str) -> Usd.Stage:
    """Open a stage with USD's printing caught: composition problems are left to check_composition, anything else
    USD said becomes one warning line."""
    with captured() as cap:
        stage = open_stage()
    report(cap.others(), file)
    return stage
