"""Typed, validated reading of the attributes SWB takes from a stage, driven by schema tables.

One reader for every attribute SWB reads (SWB's own, from ``schema.schema_table()``, and UsdGeom/UsdLux ones, from
``core_defs``): an authored value must have the attribute's type family (a real number where ``float`` is declared,
whole numbers where ``int2`` is, text for tokens), be finite, lie in the attribute's valid interval and, for tokens,
be one of the allowed values; an unauthored attribute takes the schema's fallback, which must pass the same checks
(``moduleSize`` has fallback 0 precisely so that forgetting it is an error). Every failure is a one-line
``SwbError`` naming the file, prim and attribute and what to do; nothing is truncated, rounded or misread.

Reading does not depend on USD's schema registry: only authored values are asked from USD, fallbacks come from the
table, so a process that registered SWB's schemas and one that could not read the same values.

Type families, not exact types, are checked: ``double`` or ``half`` where ``float`` is declared is read as the
same number, and ``token`` and ``string`` are interchangeable. (With SWB's schemas registered USD reports the
schema's type name whatever was authored, so only the value's own type tells what the file holds.)

Many prims at once (``read_columns``) is how the loader reads ten thousand labels: USD is asked only for the
attributes a prim authors, and the checks run on whole columns with numpy.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from functools import cache
from typing import Any

import numpy as np
from pxr import Gf, Sdf, Usd, Vt

from ..errors import SwbError
from .schema import AttributeDef, Interval, applied_schemas, attribute_def, schema_table
from .units import LoadContext

# scalar type name (Sdf.ValueTypeName.scalarType.type.typeName) -> (family, components)
_FAMILY_OF_TYPE = {
    "float": ("real", 1), "double": ("real", 1), "pxr_half::half": ("real", 1), "GfHalf": ("real", 1),
    "int": ("int", 1), "unsigned int": ("int", 1), "long": ("int", 1), "long long": ("int", 1),
    "unsigned long": ("int", 1), "unsigned long long": ("int", 1), "unsigned char": ("int", 1),
    "bool": ("bool", 1), "TfToken": ("text", 1), "string": ("text", 1),
    "GfMatrix4d": ("matrix", 16),
}
for _n in (2, 3, 4):
    for _s in "fdh":
        _FAMILY_OF_TYPE[f"GfVec{_n}{_s}"] = ("real", _n)
    _FAMILY_OF_TYPE[f"GfVec{_n}i"] = ("int", _n)

_FAMILY_OF_PYTHON: dict[type, tuple[str, int]] = {
    bool: ("bool", 1), int: ("int", 1), float: ("real", 1), str: ("text", 1), Gf.Matrix4d: ("matrix", 16),
}
for _n in (2, 3, 4):
    for _s in "fdh":
        _FAMILY_OF_PYTHON[getattr(Gf, f"Vec{_n}{_s}")] = ("real", _n)
    _FAMILY_OF_PYTHON[getattr(Gf, f"Vec{_n}i")] = ("int", _n)

# Vt arrays: element family and components (the array flag is implied)
_ARRAY_FAMILY: dict[type, tuple[str, int]] = {}
for _name, _family in (("Float", "real"), ("Double", "real"), ("Half", "real"), ("Int", "int"), ("Int64", "int"),
                       ("UInt", "int"), ("UInt64", "int"), ("UChar", "int"), ("Bool", "bool"), ("Token", "text"),
                       ("String", "text")):
    _ARRAY_FAMILY[getattr(Vt, f"{_name}Array")] = (_family, 1)
for _n in (2, 3, 4):
    for _s in "fdh":
        _ARRAY_FAMILY[getattr(Vt, f"Vec{_n}{_s}Array")] = ("real", _n)
    _ARRAY_FAMILY[getattr(Vt, f"Vec{_n}iArray")] = ("int", _n)

_FAMILY_WORDS = {"real": "a real number", "int": "a whole number", "bool": "true or false", "text": "text",
                 "matrix": "a 4x4 matrix"}


@cache
def expected_family(type_name: str) -> tuple[str, int, bool]:
    """(family, components, is_array) of a declared Sdf value type name."""
    vt = Sdf.ValueTypeNames.Find(type_name)
    if not vt:
        return ("other", 0, False)
    family, size = _FAMILY_OF_TYPE.get(vt.scalarType.type.typeName, ("other", 0))
    return family, size, bool(vt.isArray)


def value_family(value: Any) -> tuple[str, int]:
    """(family, components) of a value as USD returns it to Python; ("other", 0) for anything else.
    Arrays give their element's family with an ``[]`` suffix (``("real[]", 2)`` for a float2[])."""
    found = _FAMILY_OF_PYTHON.get(type(value))
    if found is not None:
        return found
    element = _ARRAY_FAMILY.get(type(value))
    return (element[0] + "[]", element[1]) if element is not None else ("other", 0)


def core_defs(type_name: str, names: Sequence[str], valid: Mapping[str, str] | None = None) -> dict[str, AttributeDef]:
    """Table entries for attributes of a core USD schema (``Camera``, ``SphereLight``, ...) from USD's registry,
    which always holds usd-core's own schemas; ``valid`` adds SWB's intervals (e.g. focalLength must be > 0)."""
    return dict(_core_defs(type_name, tuple(names), tuple(sorted((valid or {}).items()))))


@cache
def _core_defs(type_name: str, names: tuple[str, ...], valid_items: tuple[tuple[str, str], ...]
               ) -> dict[str, AttributeDef]:
    valid = dict(valid_items)
    definition = Usd.SchemaRegistry().FindConcretePrimDefinition(type_name)
    if definition is None:
        raise KeyError(type_name)
    out = {}
    for name in names:
        attr = definition.GetAttributeDefinition(name)
        if not attr:
            raise KeyError(f"{type_name}.{name}")
        tokens = definition.GetPropertyMetadata(name, "allowedTokens")
        rule = valid.get(name)
        out[name] = AttributeDef(
            name=name, schema=type_name, type_name=str(attr.GetTypeName()),
            fallback=definition.GetAttributeFallbackValue(name),
            tokens=tuple(tokens) if tokens else None,
            valid=Interval.parse(rule) if rule else None,
            doc=definition.GetPropertyDocumentation(name),
        )
    return out


@cache
def core_def(type_name: str, name: str) -> AttributeDef | None:
    """One core attribute's table entry (``core_defs``), None when that schema does not declare it."""
    try:
        return _core_defs(type_name, (name,), ())[name]
    except KeyError:
        return None


def swb_defs(schema: str) -> dict[str, AttributeDef]:
    """Table entries of one SWB schema's attributes (``SwbSensorAPI``, ``SwbBarcodeAPI``, ``SwbLightAPI``, ...)."""
    return dict(schema_table().schemas[schema].attributes)


def with_tokens(defn: AttributeDef, tokens: Collection[str]) -> AttributeDef:
    """The same entry with another set of allowed values (decoder profiles can be registered at run time)."""
    return replace(defn, tokens=tuple(tokens))


def fallback(name: str) -> Any:
    """The schema fallback of an SWB attribute, as USD returns it when the schema is registered."""
    return attribute_def(name).fallback


# ---------------------------------------------------------------------------------------------------
# messages


def _fmt_number(x: float) -> str:
    return f"{x:.6g}" if isinstance(x, float) else str(x)


def show(value: Any) -> str:
    """A value as a person reads it in a USD file, on one line and short."""
    family, size = value_family(value)
    if family in ("real", "int") and size > 1:
        text = "(" + ", ".join(_fmt_number(float(v) if family == "real" else int(v)) for v in value) + ")"
    elif family == "real":
        text = _fmt_number(float(value))
    elif family == "text":
        text = repr(str(value))
    else:
        text = " ".join(str(value).split())
    return text if len(text) <= 80 else text[:77] + "..."


def _short(name: str) -> str:
    return name.rsplit(":", 1)[-1] if name.startswith("swb:") else name


def _words(name: str) -> str:
    """``decoderProfile`` -> ``decoder profile``."""
    return re.sub(r"(?<=[a-z])([A-Z])", lambda m: " " + m.group(1).lower(), _short(name))


def _authored_type(attr: Usd.Attribute) -> str:
    """The type name the strongest opinion declares (USD reports the schema's type when one is registered)."""
    stack = attr.GetPropertyStack(Usd.TimeCode.Default()) if attr else []
    return str(stack[0].typeName) if stack else "?"


def _in_range(defn: AttributeDef, value: Any) -> bool:
    if defn.valid is None:
        return True
    family, size = value_family(value)
    if family not in ("real", "int"):
        return True
    v = defn.valid
    parts = [float(x) for x in (value if size > 1 else (value,))]
    return all((x > v.low if v.low_open else x >= v.low) and (x < v.high if v.high_open else x <= v.high)
               for x in parts)


def _example(defn: AttributeDef, value: Any) -> str | None:
    """A value to show in "author <type> <name> = <example>": the authored numbers rounded where whole numbers are
    meant, else the fallback when it is a valid value, else None."""
    family, size, _ = expected_family(defn.type_name)
    got, got_size = value_family(value)
    if family == "int" and got == "real" and got_size == size:
        parts = list(value) if size > 1 else [value]
        if all(math.isfinite(float(v)) for v in parts):
            rounded = [round(float(v)) for v in parts]
            return f"({', '.join(map(str, rounded))})" if size > 1 else str(rounded[0])
    if defn.fallback is not None and _in_range(defn, defn.fallback):
        return show(defn.fallback)
    return None


def type_problem(prim: Usd.Prim, defn: AttributeDef, value: Any, hint: str | None = None) -> tuple[str, str]:
    """(message, hint) for a value of the wrong type family."""
    family, size, is_array = expected_family(defn.type_name)
    attr = prim.GetAttribute(defn.name)
    authored = _authored_type(attr)
    words = _FAMILY_WORDS.get(family, family)
    count = {1: "", 2: "two ", 3: "three ", 4: "four "}.get(size, f"{size} ")
    if size > 1 or is_array:
        words = {"real": "real numbers", "int": "whole numbers"}.get(family, words)
    if is_array:
        want = f"{defn.type_name} (a list of {words if size == 1 else f'{count}{words} each'})"
    else:
        want = f"{defn.type_name} ({count}{words})"
    got_family, got_size = value_family(value)
    extra = ""
    if family == "int" and got_family == "real" and not is_array:
        parts = [float(v) for v in (value if got_size > 1 else (value,))]
        if not all(math.isfinite(v) for v in parts):
            extra = "; nan and inf are no numbers SWB can use"
        elif any(not v.is_integer() for v in parts):
            extra = "; whole numbers are meant, nothing is rounded"
    message = f"{_short(defn.name)} is authored as {authored} {show(value)}, but SWB reads {want}{extra}"
    example = _example(defn, value)
    if extra.startswith("; whole"):  # the authored numbers, rounded, as the fix to check
        return message, f"if you meant it, author {defn.type_name} {defn.name} = {example}"
    if hint and defn.name in hint:
        return message, hint
    fix = f"author {defn.type_name} {defn.name}" + (f" = {example}" if example is not None else "")
    return message, f"{fix}; {hint}" if hint else fix


def type_error(ctx: LoadContext, prim: Usd.Prim, defn: AttributeDef, value: Any, hint: str | None = None):
    """SwbError for a value of the wrong type family."""
    message, fix = type_problem(prim, defn, value, hint)
    return ctx.error(message, prim, defn.name, hint=fix)


def _source(prim: Usd.Prim, name: str) -> str:
    attr = prim.GetAttribute(name)
    return "" if attr and attr.HasAuthoredValue() else " (not authored: the schema fallback)"


# ---------------------------------------------------------------------------------------------------
# reading


def _convert(value: Any, family: str, size: int, is_array: bool = False) -> Any | None:
    """``value`` as plain Python (float, int, bool, str, tuple; arrays stay Vt arrays), or None when it is not of
    ``family``."""
    got, got_size = value_family(value)
    if got != (family + "[]" if is_array else family) or got_size != size:
        return None
    return tuple(value) if size > 1 and family in ("real", "int") and not is_array else value


@cache
def _python_types(family: str, size: int, is_array: bool = False) -> frozenset[type]:
    """The Python types USD returns for values of a family (what ``_convert`` accepts)."""
    table = _ARRAY_FAMILY if is_array else _FAMILY_OF_PYTHON
    return frozenset(t for t, f in table.items() if f == (family, size))


def read_columns(
    prims: Sequence[Usd.Prim],
    ctx: LoadContext,
    defs: Mapping[str, AttributeDef],
    *,
    authored: Sequence[Collection[str]] | None = None,
    hints: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Validated values of ``defs`` on every prim: name -> a list of plain Python values (scalars, text, bools,
    Vt arrays), or for vector types an (n, k) numpy array (float64 for real, int64 for whole numbers).

    ``authored`` (optional, one per prim) names the properties each prim authors, as the loader's traversal
    already knows them; attributes not named there take their fallback without asking USD.
    SwbError names the first prim (in order) and attribute that fails a check (see the module docstring).
    """
    hints = hints or {}
    fast = authored is not None and not ctx.has_time_samples
    time = ctx.time
    columns: dict[str, Any] = {}
    families = {name: expected_family(d.type_name) for name, d in defs.items()}
    # name -> (column, accepted Python types)
    slots: dict[str, tuple[list, frozenset[type]]] = {}
    for name, d in defs.items():
        family, size, is_array = families[name]
        columns[name] = [d.fallback] * len(prims)
        slots[name] = (columns[name], _python_types(family, size, is_array))
    for i, prim in enumerate(prims):
        for name in authored[i] if authored is not None else slots:
            slot = slots.get(name)
            if slot is None:
                continue
            attr = prim.GetAttribute(name)
            value = attr.Get(time) if fast else ctx.value(attr)
            if value is None:  # declared without a value (or no such attribute): the fallback
                continue
            column, accepted = slot
            if type(value) not in accepted:
                raise type_error(ctx, prim, defs[name], value, hints.get(name))
            column[i] = value
    for name, d in defs.items():
        family, size, is_array = families[name]
        column = columns[name]
        if d.fallback is None and None in column:  # no authored value and no fallback (a core attribute)
            i = column.index(None)
            raise ctx.error(f"{_short(d.name)} has no value", prims[i], d.name,
                            hint=hints.get(name) or f"author {d.type_name} {d.name}")
        if size > 1 and family in ("real", "int") and not is_array:
            columns[name] = np.array(column, dtype=np.float64 if family == "real" else np.int64).reshape(-1, size)
        _check_column(columns[name], prims, ctx, d, families[name], hints.get(name))
    return columns


def check_type(ctx: LoadContext, prim: Usd.Prim, defn: AttributeDef, value: Any, hint: str | None = None) -> None:
    """SwbError (see ``type_problem``) when ``value`` is not of the type family ``defn`` declares."""
    family, size, is_array = expected_family(defn.type_name)
    if type(value) not in _python_types(family, size, is_array):
        raise type_error(ctx, prim, defn, value, hint)


def read_values(prim: Usd.Prim, ctx: LoadContext, defs: Mapping[str, AttributeDef],
                hints: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Validated values of ``defs`` on one prim (see read_columns); vectors as tuples of Python numbers."""
    out = {}
    for name, column in read_columns([prim], ctx, defs, hints=hints).items():
        out[name] = tuple(column[0].tolist()) if isinstance(column, np.ndarray) else column[0]
    return out


def _check_column(column: Any, prims: Sequence[Usd.Prim], ctx: LoadContext, d: AttributeDef,
                  family: tuple[str, int, bool], hint: str | None) -> None:
    kind, size, is_array = family
    if len(column) == 0 or is_array:
        return
    if kind in ("real", "int"):
        if len(column) <= _SMALL:  # a prim or a few (incremental updates): plain Python is several times faster
            bad_finite, bad_range = _check_small(column, d.valid)
        else:
            arr = np.asarray(column, dtype=np.float64).reshape(len(column), -1)
            finite = np.isfinite(arr).all(axis=1)
            bad_finite = None if finite.all() else int(np.argmin(finite))
            bad_range = None
            if bad_finite is None and d.valid is not None:
                v = d.valid
                low_ok = arr > v.low if v.low_open else arr >= v.low
                high_ok = arr < v.high if v.high_open else arr <= v.high
                ok = (low_ok & high_ok).all(axis=1)
                bad_range = None if ok.all() else int(np.argmin(ok))
        if bad_finite is not None:
            i = bad_finite
            shown = show_value(column[i])
            raise ctx.error(f"{_short(d.name)} is not a finite number {shown if shown[0] == '(' else f'({shown})'}",
                            prims[i], d.name, hint=hint or "author finite numbers (no nan or inf)")
        if bad_range is not None:
            i = bad_range
            raise ctx.error(
                f"{_short(d.name)} must be in {d.valid}, got {show_value(column[i])}{_source(prims[i], d.name)}",
                prims[i], d.name, hint=hint or _range_hint(d))
    elif kind == "text" and d.tokens is not None:
        allowed = set(d.tokens)
        for i, value in enumerate(column):
            if value not in allowed:
                raise ctx.error(f"unknown {_words(d.name)} {value!r}{_source(prims[i], d.name)}", prims[i], d.name,
                                hint=f"use one of {', '.join(d.tokens)}")


_SMALL = 8


def _check_small(column: Any, valid: Interval | None) -> tuple[int | None, int | None]:
    """(first non-finite row, first row out of ``valid``) of a short column, in plain Python."""
    rows = column.tolist() if isinstance(column, np.ndarray) else column
    for i, row in enumerate(rows):
        values = row if isinstance(row, list) else (row,)
        if not all(math.isfinite(x) for x in values):
            return i, None
    if valid is not None:
        lo, hi = valid.low, valid.high
        for i, row in enumerate(rows):
            for x in row if isinstance(row, list) else (row,):
                if not ((x > lo if valid.low_open else x >= lo) and (x < hi if valid.high_open else x <= hi)):
                    return None, i
    return None, None


def _range_hint(d: AttributeDef) -> str:
    example = f" (the schema default is {show(d.fallback)})" if d.fallback is not None else ""
    return f"author {d.type_name} {d.name} with a value in {d.valid}{example}"


def show_value(value: Any) -> str:
    """Like ``show`` for the values read_columns returns (numpy rows and tuples included)."""
    if isinstance(value, np.ndarray):
        value = tuple(value.tolist())
    if isinstance(value, tuple):
        return "(" + ", ".join(_fmt_number(v) for v in value) + ")"
    return show(value)


# ---------------------------------------------------------------------------------------------------
# single SWB attributes outside the loader (sweep specs, edits)


def get_value(prim: Usd.Prim, name: str, file: str | None = None) -> Any:
    """One SWB attribute of a prim at the default time: its authored value checked for the schema's type family
    (SwbError naming prim and attribute otherwise), or the schema fallback when it has none. Plain Python values
    (tuples for vectors); arrays are returned as Vt arrays. Independent of USD's schema registry."""
    defn = attribute_def(name)
    family, size, is_array = expected_family(defn.type_name)
    attr = prim.GetAttribute(name)
    value = attr.Get() if attr else None
    if value is None:
        return _convert(defn.fallback, family, size, is_array) if defn.fallback is not None else None
    converted = _convert(value, family, size, is_array)
    if converted is None:
        message, hint = type_problem(prim, defn, value)
        raise SwbError(message, file=file, prim=str(prim.GetPath()), attribute=name, hint=hint)
    return converted


def create_attribute(prim: Usd.Prim, name: str) -> Usd.Attribute | None:
    """The prim's attribute ``name``, created with the type its SWB schema declares when it does not exist yet
    (a process whose USD registry lacks SWB's schemas has no built-in attributes to set); None when no SWB
    schema declares that name or the prim neither applies that API schema nor has that type (as USD would
    answer with the schemas registered)."""
    attr = prim.GetAttribute(name)
    if attr:
        return attr
    defn = schema_table().attribute(name)
    if defn is None or (defn.schema not in applied_schemas(prim) and prim.GetTypeName() != defn.schema):
        return None
    return prim.CreateAttribute(name, Sdf.ValueTypeNames.Find(defn.type_name), custom=False)


def author(prim: Usd.Prim, name: str, value: Any) -> None:
    """Set an SWB attribute in the stage's edit target, creating it with its schema type when needed."""
    attr = create_attribute(prim, name)
    if attr is None:
        raise KeyError(name)
    attr.Set(value)
