"""Stage units and axes: everything that maps a prim's own frame to SWB's world (SI metres, Z up).

USD leaves units to the reader: ``metersPerUnit`` (unauthored: 0.01) and ``upAxis`` (Y or Z) are stage
metadata, and composition does not rescale a referenced asset authored in other units. ``LoadContext``
resolves all of that once per load and caches it per prim.

Time: ``LoadContext.time`` is the default time, or the start time code when the stage authors a time
code range (an animated export is read at its first frame).

Matrices here are numpy, column-vector convention (``p_world = M @ [p, 1]``); ``Gf.Matrix4d`` is row-vector
(``p' = p * M``), so it is transposed on the way in.

Referenced assets in other units: a prim that introduces a reference or payload arc whose target layer
authors a different ``metersPerUnit`` is a *unit root*. The unit root's own transform is taken in the
referencing context's units (it is where the asset is placed); everything below it (its geometry, its
descendants' transforms, camera optics, module sizes) is in the asset's units and is scaled by
``asset_mpu / context_mpu`` about the unit root's origin. Nested arcs are followed (a reference to a prim
that itself references a millimetre asset is in millimetres). A layer that does not author
``metersPerUnit`` is taken to share the referencing context's units (no rescale). A unit root that carries
an ``xformOp:scale:unitsResolve`` op (written by Omniverse's metrics assembler) is already compensated by
its transform and is not rescaled again; its length attributes are still read in the asset's units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from pxr import Gf, Sdf, Tf, Usd, UsdGeom

from ..errors import SwbError

UNITS_RESOLVE_SUFFIX = "unitsResolve"
_SCALE_TOLERANCE = 1e-4

# Y-up -> Z-up: +90 degrees about X, so +Y becomes +Z and +Z becomes -Y.
_Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def _stage_file(stage: Usd.Stage) -> str:
    """The file a person knows the stage by: SWB opens scenes under an anonymous root, so name the first real layer."""
    for layer in stage.GetLayerStack(includeSessionLayers=False):
        if not layer.anonymous:
            return layer.identifier
    return stage.GetRootLayer().identifier


def meters_per_unit(stage: Usd.Stage) -> float:
    """The stage's metersPerUnit (0.01 when unauthored, per UsdGeom)."""
    mpu = float(UsdGeom.GetStageMetersPerUnit(stage))
    if not math.isfinite(mpu) or mpu <= 0.0:
        raise SwbError(
            f"metersPerUnit must be a positive number, got {mpu:g}",
            file=_stage_file(stage),
            attribute="metersPerUnit",
            hint="author e.g. metersPerUnit = 1 (metres) or 0.01 (centimetres) in the layer metadata",
        )
    return mpu


def up_axis(stage: Usd.Stage) -> str:
    """The stage's upAxis, 'Y' or 'Z' (UsdGeom's fallback, normally 'Y', when unauthored)."""
    axis = str(UsdGeom.GetStageUpAxis(stage))
    if axis not in ("Y", "Z"):
        raise SwbError(
            f"upAxis must be Y or Z, got {axis!r}",
            file=_stage_file(stage),
            attribute="upAxis",
            hint='author upAxis = "Z" or "Y" in the layer metadata',
        )
    return axis


def stage_to_world(mpu: float, axis: str) -> np.ndarray:
    """4x4 matrix taking stage coordinates (scene units, its up axis) to SI metres, Z up."""
    m = np.eye(4)
    rot = _Y_UP_TO_Z_UP if axis == "Y" else np.eye(3)
    m[:3, :3] = rot * mpu
    return m


def stage_to_world_matrix(stage: Usd.Stage) -> np.ndarray:
    return stage_to_world(meters_per_unit(stage), up_axis(stage))


def gf_to_numpy(m: Gf.Matrix4d) -> np.ndarray:
    """Gf.Matrix4d (row-vector) -> numpy 4x4 in column-vector convention."""
    return np.array(m, dtype=np.float64).reshape(4, 4).T


def layer_meters_per_unit(layer: Sdf.Layer) -> float | None:
    """metersPerUnit authored in a layer's metadata, None when it is not authored."""
    root = layer.pseudoRoot
    if not root.HasInfo("metersPerUnit"):
        return None
    value = float(root.GetInfo("metersPerUnit"))
    return value if math.isfinite(value) and value > 0.0 else None


@dataclass
class UnitFrame:
    """Units of a prim's own data and the correction that rescales it about its unit root.

    ``correction`` (4x4, column-vector, stage units) premultiplies the composed local-to-world transform;
    None when the prim is in stage units.
    """

    mpu: float
    correction: np.ndarray | None = None


@dataclass
class LoadContext:
    """What every per-prim reader needs: where messages point, units, axes and a transform cache."""

    file: str
    stage_to_world: np.ndarray  # (4, 4) stage units, stage up axis -> metres, Z up
    meters_per_unit: float
    up_axis: str
    xform_cache: UsdGeom.XformCache
    time: Usd.TimeCode = field(default_factory=Usd.TimeCode.Default)
    geometry: dict = field(default_factory=dict, repr=False)  # prototype prim path -> shared geometry
    # the stage's pseudo-root: a prim does not keep its stage alive (a context must not: callers recompose
    # or drop stages they made while a context is still around)
    root: Usd.Prim | None = field(default=None, repr=False)
    _frames: dict[Sdf.Path, UnitFrame] = field(default_factory=dict, repr=False)
    # prim path -> (prim path, op name) of the first prim at or above it whose xformOpOrder names an op it does
    # not author, or None when the ops of the prim and its ancestors are all authored
    xform_ops: dict[Sdf.Path, tuple[Sdf.Path, str] | None] = field(default_factory=dict, repr=False)
    _stage_facts: dict[str, bool] = field(default_factory=dict, repr=False)

    @classmethod
    def for_stage(cls, stage: Usd.Stage, file: str | None = None, time: Usd.TimeCode | None = None) -> LoadContext:
        if time is not None:
            t = time
        elif stage.HasAuthoredTimeCodeRange():  # animated export: read the first frame
            t = Usd.TimeCode(stage.GetStartTimeCode())
        else:
            t = Usd.TimeCode.Default()
        mpu, axis = meters_per_unit(stage), up_axis(stage)
        return cls(
            file=file if file is not None else stage.GetRootLayer().identifier,
            stage_to_world=stage_to_world(mpu, axis),
            meters_per_unit=mpu,
            up_axis=axis,
            xform_cache=UsdGeom.XformCache(t),
            time=t,
            root=stage.GetPseudoRoot(),
        )

    def clear(self) -> None:
        """Forget cached transforms, unit frames, geometry and stage facts: call after the stage was edited."""
        self.xform_cache.Clear()
        self._frames.clear()
        self.geometry.clear()
        self.xform_ops.clear()
        self._stage_facts.clear()

    # --- facts about the whole stage, for bulk reads (computed on first use, a few milliseconds) -----
    def _stage(self) -> Usd.Stage | None:
        return self.root.GetStage() if self.root is not None and self.root.IsValid() else None

    @property
    def has_time_samples(self) -> bool:
        """Whether any layer of the stage holds time samples. When none does, an attribute's value is its
        default and bulk readers skip the per-attribute time-sample query (see ``value``)."""
        if "samples" not in self._stage_facts:
            stage = self._stage()
            self._stage_facts["samples"] = stage is None or any(
                layer.ListAllTimeSamples() for layer in stage.GetUsedLayers())
        return self._stage_facts["samples"]

    @property
    def uniform_units(self) -> bool:
        """True when no layer of the stage authors a metersPerUnit other than the stage's, so no referenced
        asset is in other units and every prim's data is in stage units (no per-prim unit search needed)."""
        if "units" not in self._stage_facts:
            stage = self._stage()
            uniform = stage is not None
            for layer in stage.GetUsedLayers() if stage is not None else []:
                mpu = layer_meters_per_unit(layer)
                if mpu is not None and not math.isclose(mpu, self.meters_per_unit, rel_tol=1e-9):
                    uniform = False
                    break
            self._stage_facts["units"] = uniform
        return self._stage_facts["units"]

    def value(self, attr: Usd.Attribute):
        """An attribute's value at ``time``; at the default time an attribute with only time samples gives
        its first sample (not its schema fallback)."""
        if not attr:
            return None
        if self.time.IsDefault() and attr.GetNumTimeSamples() > 0:
            source = attr.GetResolveInfo(self.time).GetSource()
            if source != Usd.ResolveInfoSourceDefault:  # no authored default: not the schema fallback
                return attr.Get(Usd.TimeCode.EarliestTime())
        return attr.Get(self.time)

    @property
    def world_rotation(self) -> np.ndarray:
        """Stage -> world rotation (no scale): turns stage-frame directions into world directions."""
        return self.stage_to_world[:3, :3] / self.meters_per_unit

    def error(self, message: str, prim: Usd.Prim | str | None = None, attribute: str | None = None,
              hint: str | None = None) -> SwbError:
        where = str(prim.GetPath()) if isinstance(prim, Usd.Prim) else prim
        return SwbError(message, file=self.file, prim=where, attribute=attribute, hint=hint)

    # --- units of referenced assets -------------------------------------------------------------
    def unit_frame(self, prim: Usd.Prim) -> UnitFrame:
        """Units of ``prim``'s data (see the module docstring), cached per path."""
        path = prim.GetPath()
        frame = self._frames.get(path)
        if frame is not None:
            return frame
        if self._stage_facts.get("units"):  # a bulk read found no layer in other units: no per-prim search
            frame = self._frames.get(Sdf.Path.absoluteRootPath)
            if frame is None:
                frame = self._frames[Sdf.Path.absoluteRootPath] = UnitFrame(self.meters_per_unit)
            return frame
        if path == Sdf.Path.absoluteRootPath:
            frame = UnitFrame(self.meters_per_unit)
        else:
            parent = self.unit_frame(prim.GetParent())
            asset_mpu = _arc_meters_per_unit(prim)
            if asset_mpu is None or math.isclose(asset_mpu, parent.mpu, rel_tol=1e-9):
                frame = parent
            elif _units_resolved(prim):  # the transform already scales; lengths in attributes still need it
                frame = UnitFrame(asset_mpu, parent.correction)
            else:
                world = self.raw_local_to_world(prim)
                scale = np.diag([asset_mpu / parent.mpu] * 3 + [1.0])
                try:
                    corr = world @ scale @ np.linalg.inv(world)
                except np.linalg.LinAlgError:
                    raise self.error("the transform is singular, so the referenced asset cannot be placed",
                                     prim, "xformOpOrder") from None
                if parent.correction is not None:
                    corr = parent.correction @ corr
                frame = UnitFrame(asset_mpu, corr)
        self._frames[path] = frame
        return frame

    def unit_scale(self, prim: Usd.Prim) -> float:
        """Metres per unit of this prim's own data (lengths in attributes such as focalLength or size)."""
        return self.unit_frame(prim).mpu

    # --- transforms -----------------------------------------------------------------------------
    def check_xform_ops(self, prim: Usd.Prim) -> None:
        """SwbError when the prim or an ancestor lists an op in xformOpOrder that it does not author (USD would
        skip the op with a warning and silently use another transform)."""
        bad = self._xform_ops_of(prim)
        if bad is not None:
            path, op = bad
            raise self.error(
                f"xformOpOrder names {op}, which is not an authored attribute of the prim",
                str(path), "xformOpOrder",
                hint=f"author {op} on {path} or remove it from xformOpOrder",
            )

    def _xform_ops_of(self, prim: Usd.Prim) -> tuple[Sdf.Path, str] | None:
        path = prim.GetPath()
        if path in self.xform_ops:
            return self.xform_ops[path]
        parent = prim.GetParent()
        inherited = self._xform_ops_of(parent) if parent and not parent.IsPseudoRoot() else None
        found = inherited
        if inherited is None:
            names = set(prim.GetAuthoredPropertyNames())
            op = missing_xform_op(prim, names, self) if "xformOpOrder" in names else None
            found = None if op is None else (path, op)
        self.xform_ops[path] = found
        return found

    def raw_local_to_world(self, prim: Usd.Prim) -> np.ndarray:
        """Composed local-to-world in stage units (column-vector), before any unit correction."""
        self.check_xform_ops(prim)
        try:
            return gf_to_numpy(self.xform_cache.GetLocalToWorldTransform(prim))
        except Tf.ErrorException as exc:
            message = " ".join(str(exc).split())
            message = message.split(" : ", 1)[-1].strip("' ")[:200]
            raise self.error(f"its transform cannot be computed: {message}", prim, "xformOpOrder",
                             hint="every name in xformOpOrder must be an authored xformOp") from None

    def stage_transform(self, prim: Usd.Prim) -> np.ndarray:
        """Local-to-world in stage units with referenced-asset units resolved."""
        m = self.raw_local_to_world(prim)
        corr = self.unit_frame(prim).correction
        return m if corr is None else corr @ m

    def to_world(self, prim: Usd.Prim) -> np.ndarray:
        """Prim-local coordinates -> SI world metres, Z up. Checked finite and invertible."""
        m = self.stage_to_world @ self.stage_transform(prim)
        self.check_transform(prim, m)
        return m

    def check_transform(self, prim: Usd.Prim, m: np.ndarray) -> None:
        """SwbError naming the prim (or ancestor) whose xformOps make ``m`` NaN or singular."""
        lin = m[:3, :3]
        if np.all(np.isfinite(m)):
            det = float(np.linalg.det(lin))
            scale = float(np.max(np.abs(lin)))
            if scale > 0.0 and abs(det) > 1e-12 * scale**3:
                return
            problem = "is singular (a zero scale?)"
        else:
            problem = "is not finite (NaN or infinite values)"
        culprit = _culprit(prim, self.time)
        raise self.error(
            f"the transform {problem}",
            culprit,
            _ops_attribute(culprit),
            hint="fix the xformOp values (scale must be non-zero, no NaN)",
        )


def missing_xform_op(prim: Usd.Prim, names: set[str] | list[str], ctx: LoadContext) -> str | None:
    """The first op in the prim's xformOpOrder that is not among its authored property ``names``, else None."""
    attr = prim.GetAttribute("xformOpOrder")
    # per-prim reads must stay cheap: only use the stage-wide fact when a bulk read has already computed it
    order = attr.Get(ctx.time) if ctx._stage_facts.get("samples") is False else ctx.value(attr)
    for i in range(len(order) if order is not None else 0):  # indexing a Vt array is faster than iterating it
        token = order[i]
        if token == "!resetXformStack!":
            continue
        name = token[len("!invert!"):] if token.startswith("!invert!") else token
        if name not in names or not name.startswith("xformOp:"):
            return str(name)
    return None


def world_transforms(prims: list[Usd.Prim], ctx: LoadContext) -> np.ndarray:
    """(n, 4, 4) prim-local -> SI world (metres, Z up) of many prims at once; the same numbers as ``to_world``
    prim by prim (checked finite and invertible by ``rigid_poses``). The prims' xformOps must be checked."""
    if not prims:
        return np.zeros((0, 4, 4))
    if len(prims) <= 8 or not ctx.uniform_units:  # a few prims (incremental updates): no stage-wide facts needed
        return np.stack([ctx.stage_to_world @ ctx.stage_transform(p) for p in prims])
    cache = ctx.xform_cache
    try:
        # np.asarray per Gf.Matrix4d (buffer protocol) is several times faster than np.array on the whole list
        raw = np.array([np.asarray(cache.GetLocalToWorldTransform(p)) for p in prims], dtype=np.float64)
    except Tf.ErrorException:  # name the prim whose transform fails
        for p in prims:
            ctx.raw_local_to_world(p)
        raise
    return ctx.stage_to_world @ raw.transpose(0, 2, 1)


def rigid_poses(
    prims: list[Usd.Prim], ctx: LoadContext, what: str, uniform: bool, worlds: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(rotations (n, 3, 3), positions (n, 3)) of many prims at once with one batched SVD: ``rigid_pose`` for each
    (the same numbers), its error for the first bad prim. ``worlds``: their world transforms when already known
    (the loader's batch), else each prim's ``to_world``."""
    if len(prims) == 0:
        return np.zeros((0, 3, 3)), np.zeros((0, 3))
    if worlds is None:
        worlds = np.stack([ctx.to_world(p) for p in prims])
    lin = worlds[:, :3, :3]
    if len(prims) == 1:  # one prim (incremental updates): the scalar check, the same formula
        ctx.check_transform(prims[0], worlds[0])
    else:
        finite = np.isfinite(worlds).all(axis=(1, 2))
        with np.errstate(invalid="ignore", over="ignore"):
            det = np.linalg.det(np.where(finite[:, None, None], lin, 0.0))
            scale = np.abs(np.where(finite[:, None, None], lin, 0.0)).max(axis=(1, 2))
            ok = finite & (scale > 0.0) & (np.abs(det) > 1e-12 * scale**3)
        if not ok.all():
            i = int(np.argmin(ok))
            ctx.check_transform(prims[i], worlds[i])  # raises, naming the culprit
    u, sigma, vt = np.linalg.svd(lin)
    rot = u @ vt
    mirrored = np.linalg.det(rot) < 0.0
    if mirrored.any():
        i = int(np.argmax(mirrored))
        raise ctx.error(f"the {what}'s transform mirrors (negative scale)", prims[i], "xformOp:scale",
                        hint="use rotations instead of negative scale")
    if uniform:
        skewed = sigma[:, 0] - sigma[:, 2] > _SCALE_TOLERANCE * sigma[:, 0]
        if skewed.any():
            i = int(np.argmax(skewed))
            raise ctx.error(
                f"the {what}'s transform has non-uniform scale {tuple(round(float(s), 6) for s in sigma[i])}",
                prims[i], "xformOp:scale",
                hint="a camera may only be rotated and moved; remove the scale (on it or its parents)",
            )
    return rot, worlds[:, :3, 3].copy()


def rigid_pose(
    prim: Usd.Prim, ctx: LoadContext, what: str, uniform: bool, to_world: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(rotation 3x3, position in metres) of a prim's world transform, rotation orthonormalised.

    ``uniform``: reject non-uniform scale (cameras); otherwise any scale is ignored (targets).
    A mirroring transform is always rejected: neither a camera nor a symbol can be mirrored.
    ``to_world`` overrides the prim's own world transform (PointInstancer instances).
    The same computation as ``rigid_poses`` (it is that, for one prim).
    """
    m = ctx.to_world(prim) if to_world is None else np.asarray(to_world, dtype=np.float64)
    rot, pos = rigid_poses([prim], ctx, what, uniform, m[None])
    return rot[0], pos[0]


def _local_ok(prim: Usd.Prim, time: Usd.TimeCode) -> bool:
    xf = UsdGeom.Xformable(prim)
    if not xf:
        return True
    m = np.array(xf.GetLocalTransformation(time), dtype=np.float64).reshape(4, 4)
    return bool(np.all(np.isfinite(m))) and abs(float(np.linalg.det(m[:3, :3]))) > 1e-300


def _culprit(prim: Usd.Prim, time: Usd.TimeCode) -> Usd.Prim:
    """The prim on the path to the root whose own local transform is bad; ``prim`` when none is."""
    p = prim
    while p and p.GetPath() != Sdf.Path.absoluteRootPath:
        if not _local_ok(p, time):
            return p
        p = p.GetParent()
    return prim


def _ops_attribute(prim: Usd.Prim) -> str:
    xf = UsdGeom.Xformable(prim)
    if not xf:
        return "xformOpOrder"
    names = [op.GetOpName() for op in xf.GetOrderedXformOps()]
    return ", ".join(names) if names else "xformOpOrder"


def _units_resolved(prim: Usd.Prim) -> bool:
    xf = UsdGeom.Xformable(prim)
    return bool(xf) and any(op.GetOpName().endswith(UNITS_RESOLVE_SUFFIX) for op in xf.GetOrderedXformOps())


_ARC_FILTER = Usd.PrimCompositionQuery.Filter()
_ARC_FILTER.arcTypeFilter = Usd.PrimCompositionQuery.ArcTypeFilter.ReferenceOrPayload
_ARC_FILTER.dependencyTypeFilter = Usd.PrimCompositionQuery.DependencyTypeFilter.Direct


def _arc_meters_per_unit(prim: Usd.Prim) -> float | None:
    """metersPerUnit of the asset this prim's strongest reference/payload chain brings in, if authored.

    Follows the chain through nested arcs (a reference to a prim that itself references an asset) and
    returns the deepest authored value; None when the prim introduces no such arc or no layer authors it.
    """
    if not (prim.HasAuthoredReferences() or prim.HasAuthoredPayloads()):
        return None
    query = Usd.PrimCompositionQuery(prim)
    query.filter = _ARC_FILTER
    found: float | None = None
    node = None
    for arc in query.GetCompositionArcs():  # strongest first; a node's children follow it
        if node is not None and arc.GetIntroducingNode() != node:
            continue
        target = arc.GetTargetNode()
        mpu = layer_meters_per_unit(target.layerStack.identifier.rootLayer)
        if mpu is not None:
            found = mpu
        node = target
    return found
