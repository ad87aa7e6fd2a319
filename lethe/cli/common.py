"""What every ``lethe`` command shares: error handling, instants given as options, and JSON output."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

from lethe.errors import LetheError, ParameterError
from lethe.policy.periods import check_instant

F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(func: F) -> F:
    """Turn LetheError into a message and its exit code; Ctrl-C into 130."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except LetheError as exc:
            if os.environ.get("LETHE_DEBUG"):
                raise
            for line in str(exc).splitlines():
                click.echo(f"error: {line}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def parse_instant(
    text: str | None, option: str, *, allow_future: bool, future_flag: str | None = None
) -> datetime | None:
    """An option's ISO 8601 instant with a zone, or a date (midnight UTC); None when not given.

    Out of range, without a zone, or (unless ``allow_future``) later than now: ParameterError (exit 2)
    naming the option, and ``future_flag`` when one allows a later instant.
    """
    if not text:
        return None
    shown = repr(text) if len(text) <= 40 else repr(text[:37] + "...")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ParameterError(
            f"{option} {shown} is not an ISO 8601 date or instant (e.g. 2026-11-25 or 2026-11-25T02:00:00+01:00)"
        ) from None
    if moment.tzinfo is None:
        if len(text) > 10:
            raise ParameterError(f"{option} needs a time zone, e.g. 2026-11-25T02:00:00+01:00 or ...Z")
        moment = moment.replace(tzinfo=UTC)
    return check_instant(moment, option, allow_future=allow_future, future_flag=future_flag)


def emit_json(payload: Any) -> None:
    """Print ``payload`` as indented JSON (dataclasses become objects)."""
    click.echo(json.dumps(payload, indent=2, default=_jsonable, ensure_ascii=False))


def _jsonable(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
