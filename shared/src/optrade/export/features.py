"""The `feature_*` columns of the export: `features_snapshot` flattened, planned before streaming.

Nested objects are flattened with dots (`{"ema": {"fast": 1}}` → `feature_ema.fast`). A key that
itself contains a dot can make two different key paths flatten to one name
(`{"a.b": 1, "a": {"b": 2}}`): such a name is a *collision*. It is never silently overwritten:
each colliding key path gets its own column, named with the dotted segments quoted
(`feature_a.b` for `a` → `b`, `feature_["a.b"]` for the key `a.b`), and the manifest lists the
collision. The set of columns is found by a first, database-side pass over the window (a recursive
walk with `jsonb_each` / `json_each` that keeps each leaf's key path as a JSON array).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from sqlalchemy import Engine, text

from optrade.export.reading import Selection, reader_engine, selection_sql

FEATURE_PREFIX = "feature_"


@dataclass(frozen=True)
class FeatureColumn:
    path: str  # the column name after `feature_`: the dotted key path (quoted on a collision)
    kind: str  # number | boolean | string | json
    keys: tuple[str, ...] = field(default=(), compare=False)  # the key path in the document

    @property
    def name(self) -> str:
        return FEATURE_PREFIX + self.path

    @property
    def key_path(self) -> tuple[str, ...]:
        return self.keys or tuple(self.path.split("."))

    @property
    def arrow_type(self) -> pa.DataType:
        return {"number": pa.float64(), "boolean": pa.bool_()}.get(self.kind, pa.string())


@dataclass(frozen=True)
class FeatureCollision:
    """Several key paths that flatten to one column name, and the columns they became."""

    column: str
    key_paths: tuple[tuple[str, ...], ...]
    columns: tuple[str, ...]


_FEATURE_KEYS_SQL = {
    "postgresql": """
WITH RECURSIVE leaf(path, keys, value) AS (
    SELECT e.key, jsonb_build_array(e.key), e.value
    FROM trade t CROSS JOIN LATERAL jsonb_each(
        CASE WHEN jsonb_typeof(t.features_snapshot) = 'object'
             THEN t.features_snapshot ELSE '{{}}'::jsonb END) AS e
    WHERE {where}
  UNION ALL
    SELECT leaf.path || '.' || e.key, leaf.keys || jsonb_build_array(e.key), e.value
    FROM leaf CROSS JOIN LATERAL jsonb_each(
        CASE WHEN jsonb_typeof(leaf.value) = 'object' THEN leaf.value ELSE '{{}}'::jsonb END) AS e
)
SELECT path, keys::text AS keys, jsonb_typeof(value) AS kind FROM leaf
WHERE jsonb_typeof(value) <> 'object' GROUP BY path, keys, kind
""",
    "sqlite": """
WITH RECURSIVE leaf(path, keys, value, kind) AS (
    SELECT e.key, json_array(e.key), e.value, e.type
    FROM trade t, json_each(
        CASE WHEN json_type(t.features_snapshot) = 'object'
             THEN t.features_snapshot ELSE '{{}}' END) AS e
    WHERE {where}
  UNION ALL
    SELECT leaf.path || '.' || e.key, json_insert(leaf.keys, '$[#]', e.key), e.value, e.type
    FROM leaf, json_each(CASE WHEN leaf.kind = 'object' THEN leaf.value ELSE '{{}}' END) AS e
)
SELECT path, keys, kind FROM leaf WHERE kind <> 'object' GROUP BY path, keys, kind
""",
}
# Both databases' JSON type names, reduced to the four kinds of the export.
_KIND = {
    "number": "number", "integer": "number", "real": "number",
    "boolean": "boolean", "true": "boolean", "false": "boolean",
    "string": "string", "text": "string",
}  # fmt: skip


def _quoted(keys: tuple[str, ...]) -> str:
    """A key path as an unambiguous name: segments with a dot are JSON-quoted in brackets."""
    return ".".join(f"[{json.dumps(key)}]" if "." in key else key for key in keys)


def _kind(found: set[str]) -> str:
    return next(iter(found)) if len(found) == 1 else "json" if found else "string"


def plan_features(
    engine: Engine, selection: Selection
) -> tuple[tuple[FeatureColumn, ...], tuple[FeatureCollision, ...]]:
    """The feature columns of the selected trades (sorted by name) and the collisions."""
    clauses, binds, values = selection_sql(selection, "t")
    where = " AND ".join(["t.features_snapshot IS NOT NULL", *clauses])
    sql = _FEATURE_KEYS_SQL[engine.dialect.name].format(where=where)
    kinds: dict[tuple[str, ...], set[str]] = {}
    names: dict[str, set[tuple[str, ...]]] = {}
    with reader_engine(engine).connect() as connection:
        for path, keys_json, kind in connection.execute(text(sql).bindparams(*binds), values):
            keys = tuple(json.loads(keys_json))
            names.setdefault(path, set()).add(keys)
            found = kinds.setdefault(keys, set())
            if kind != "null":
                found.add(_KIND.get(kind, "json"))
    columns: list[FeatureColumn] = []
    collisions: list[FeatureCollision] = []
    for path, key_paths in names.items():
        if len(key_paths) == 1:
            (keys,) = key_paths
            columns.append(FeatureColumn(path, _kind(kinds[keys]), keys))
            continue
        ordered = tuple(sorted(key_paths))
        resolved = [FeatureColumn(_quoted(keys), _kind(kinds[keys]), keys) for keys in ordered]
        columns.extend(resolved)
        collisions.append(
            FeatureCollision(FEATURE_PREFIX + path, ordered, tuple(c.name for c in resolved))
        )
    return tuple(sorted(columns, key=lambda c: c.path)), tuple(collisions)


def feature_columns(engine: Engine, selection: Selection) -> tuple[FeatureColumn, ...]:
    """The feature columns of the selected trades, each with its kind, sorted by name."""
    return plan_features(engine, selection)[0]


def flatten_features(features: Any, prefix: str = "") -> dict[str, Any]:
    """`{"a": {"b": 1}, "c": 2}` → `{"a.b": 1, "c": 2}`; an empty object yields nothing."""
    return {".".join(keys): value for keys, value in flatten_key_paths(features).items()}


def flatten_key_paths(features: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """`{"a": {"b": 1}, "a.b": 2}` → `{("a", "b"): 1, ("a.b",): 2}`: nothing is overwritten."""
    if not isinstance(features, dict):
        return {}
    flat: dict[tuple[str, ...], Any] = {}
    for key, value in features.items():
        if isinstance(value, dict):
            flat.update(flatten_key_paths(value, (*prefix, key)))
        else:
            flat[(*prefix, key)] = value
    return flat


def _feature_value(value: Any, kind: str) -> Any:
    """A feature value as its planned column type, or None when it does not fit."""
    if value is None:
        return None
    if kind == "number":
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        return float(value) if is_number else None
    if kind == "boolean":
        return value if isinstance(value, bool) else None
    if kind == "string":
        return value if isinstance(value, str) else json.dumps(value)
    return json.dumps(value)


def feature_arrays(documents: Sequence[Any], features: Sequence[FeatureColumn]) -> list[pa.Array]:
    """One Arrow array per planned feature column for a batch of `features_snapshot` values."""
    flat = [flatten_key_paths(document) for document in documents]
    return [
        pa.array([_feature_value(row.get(f.key_path), f.kind) for row in flat], type=f.arrow_type)
        for f in features
    ]
