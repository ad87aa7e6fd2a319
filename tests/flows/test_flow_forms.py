"""The flows' parameter forms as the Prefect UI builds them: no "X | None" type pickers, instants as text."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from lethe.errors import ParameterError


def _schemas() -> dict[str, dict[str, Any]]:
    from prefect.utilities.callables import parameter_schema

    from flows.dpia import dpia_flow
    from flows.erasure import erasure_flow
    from flows.export import export_flow
    from flows.rectification import rectification_flow
    from flows.restriction import restriction_flow
    from flows.retention import retention_flow

    flows = (dpia_flow, erasure_flow, export_flow, rectification_flow, restriction_flow, retention_flow)
    return {flow.name: parameter_schema(flow.fn).model_dump() for flow in flows}


def test_no_parameter_offers_a_none_type() -> None:
    for name, schema in _schemas().items():
        text = json.dumps(schema)
        # Prefect renders {"anyOf": [..., {"type": "null"}]} as a picker reading 'Property is type "None"',
        # and a default null on a string field as "None is not of type 'string'".
        assert '"null"' not in text, name
        for parameter, spec in schema["properties"].items():
            if parameter not in schema["required"]:
                assert spec.get("default") is not None, f"{name}.{parameter}"


def test_the_request_forms_start_from_an_identifier_or_a_reference() -> None:
    schemas = _schemas()
    for name in ("subject-export", "subject-erasure", "subject-restriction", "subject-rectification"):
        properties = schemas[name]["properties"]
        assert properties["subject_id"]["default"] == "" and properties["request_id"]["default"] == ""
        assert "subject_id" not in schemas[name]["required"]
    assert schemas["subject-rectification"]["required"] == ["changes"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", None),
        ("  ", None),
        ("2026-11-30", datetime(2026, 11, 30, tzinfo=UTC)),
        ("2026-11-30T09:00:00+01:00", datetime(2026, 11, 30, 9, tzinfo=timezone(timedelta(hours=1)))),
        ("2026-11-30T09:00:00Z", datetime(2026, 11, 30, 9, tzinfo=UTC)),
        (datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)),
    ],
)
def test_instants_are_read_from_iso_text(text: Any, expected: datetime | None) -> None:
    from tasks.forms import parse_instant

    assert parse_instant(text, "received") == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-11-30T09:00:00", "received needs a time zone"),
        ("30/11/2026", "received is not an ISO 8601 date"),
        ("2026-13-01", "received is not an ISO 8601 date"),
    ],
)
def test_an_instant_without_zone_or_form_is_refused(text: str, message: str) -> None:
    from tasks.forms import parse_instant

    with pytest.raises(ParameterError, match=message):
        parse_instant(text, "received")
