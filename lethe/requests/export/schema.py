"""``data.schema.json``: the JSON Schema (draft 2020-12) of an export's ``data.json``, from reflected types."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import sqlalchemy as sa

from lethe.stores.schema import type_kind

FORMAT = "lethe-export/1"
_DECIMAL = r"^([-+]?[0-9]+(\.[0-9]+)?|NaN|sNaN|[-+]?Infinity)$"

_KIND_SCHEMAS: dict[str, dict[str, Any]] = {
    "integer": {"type": "integer"},
    "numeric": {"type": "string", "pattern": _DECIMAL},  # exact decimals travel as text
    "float": {"anyOf": [{"type": "number"}, {"enum": ["nan", "inf", "-inf"]}]},
    "datetime": {"type": "string", "format": "date-time"},
    "date": {"type": "string", "format": "date"},
    "boolean": {"type": "boolean"},
    "binary": {"type": "string", "contentEncoding": "base64"},
    "text": {"type": "string"},
}


def value_schema(column: sa.Column[Any]) -> dict[str, Any]:
    """The JSON Schema of one column's exported values."""
    kind = "float" if isinstance(column.type, sa.Float) else type_kind(column.type)
    schema = {**_KIND_SCHEMAS.get(kind, {}), "description": f"SQL type {column.type}"}
    return {"anyOf": [schema, {"type": "null"}]} if column.nullable else schema


def object_schema(properties: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema object requiring exactly ``properties``."""
    return dict(type="object", required=list(properties), additionalProperties=False, properties=properties)


class TableShape(Protocol):
    """What the schema says of a table (``lethe.requests.export.plan.TablePlan`` has it)."""

    @property
    def name(self) -> str: ...
    @property
    def columns(self) -> list[str]: ...
    @property
    def primary_key(self) -> list[str]: ...
    @property
    def references(self) -> list[dict[str, Any]]: ...
    @property
    def row_schema(self) -> dict[str, Any]: ...


def json_schema(subject: str, tables: Sequence[TableShape]) -> dict[str, Any]:
    """The JSON Schema (2020-12) of ``data.json`` for these tables."""
    table_schemas = {
        t.name: object_schema(
            {
                "columns": {"const": t.columns},
                "primary_key": {"const": t.primary_key},
                "references": {"const": t.references},
                "rows": {"type": "array", "items": t.row_schema},
            }
        )
        for t in tables
    }
    facts = {
        "type": "object",
        "description": "GDPR Art. 15(1) facts: purposes, lawful bases, recipients, retention, rights, contacts",
        "required": ["subject", "controller", "dpo", "activities", "rights"],
    }
    document = {
        "format": {"const": FORMAT},
        "subject": {"const": subject},
        "exported_at": {"type": "string", "format": "date-time"},
        "policy_hash": {"type": "string"},
        "facts": facts,
        "tables": object_schema(table_schemas),
    }
    title = f"Personal data of one {subject}, exported by Lethe ({FORMAT})"
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        **object_schema(document),
    }
