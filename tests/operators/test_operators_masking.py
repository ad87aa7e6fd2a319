"""The operators that keep a value's shape without a key: mask's and generalise's references and checks."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from support.operators import context_without_engine

from lethe.operators import ColumnShape
from lethe.operators.generalise import GeneraliseOperator, GeneraliseOptions
from lethe.operators.mask import mask_text

# ------------------------------------------------------------------------------------------------------ mask


@pytest.mark.parametrize(
    ("value", "keep_last", "email", "expected"),
    [
        ("4111111111111111", 4, False, "************1111"),
        ("abc", 4, False, "***"),  # no longer than keep_last: masked whole, never left in clear
        ("abcd", 4, False, "****"),
        ("abcde", 4, False, "*bcde"),
        ("", 4, False, ""),
        ("zoë@exämple.org", 2, True, "***@exämple.org"),
        ("@leading", 2, True, "@leading"),
        ("a@b@c", 0, True, "*@b@c"),
        ("no-at-sign", 2, True, "********gn"),
        ("zoë@example.org", 2, False, "*************rg"),
        (None, 4, False, None),
    ],
)
def test_mask_reference(value: str | None, keep_last: int, email: bool, expected: str | None) -> None:
    """Lengths are kept; the email form keeps everything from the first ``@``."""
    assert mask_text(value, keep_last, "*", email) == expected


# ------------------------------------------------------------------------------------------------ generalise


def test_generalise_check() -> None:
    """Options must suit the column; an integer column needs a whole bucket."""
    options = GeneraliseOptions(bucket=2.5)
    assert GeneraliseOperator.check(options, ColumnShape("integer", None, True)) is not None
    assert GeneraliseOperator.check(options, ColumnShape("numeric", None, True)) is None
    assert GeneraliseOperator.check(GeneraliseOptions(bucket=10), ColumnShape("integer", None, True)) is None
    assert GeneraliseOperator.check(GeneraliseOptions(to="year"), ColumnShape("text", None, True)) is not None


def test_generalise_reference_edges() -> None:
    """Buckets floor towards minus infinity, exactly in decimal; dates keep their type and time zone."""
    ctx = context_without_engine("amount", "numeric")
    assert GeneraliseOperator.python(GeneraliseOptions(bucket=0.1), Decimal("0.30"), (1,), ctx) == Decimal(
        "0.3"
    )
    assert GeneraliseOperator.python(GeneraliseOptions(bucket=10), Decimal("-0.05"), (1,), ctx) == Decimal(
        -10
    )
    assert GeneraliseOperator.python(GeneraliseOptions(bucket=10), -17, (1,), ctx) == -20
    moment = datetime(2021, 3, 4, 5, 6, 7, 8, tzinfo=UTC)
    assert GeneraliseOperator.python(GeneraliseOptions(to="month"), moment, (1,), ctx) == datetime(
        2021, 3, 1, tzinfo=UTC
    )
