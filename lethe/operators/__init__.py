"""Anonymisation operators, registered explicitly: add a file, then add its class to ``OPERATORS``."""

from __future__ import annotations

from lethe.errors import OperatorError
from lethe.operators.base import ColumnShape, Expression, NoOptions, Operator, OperatorContext, TypeKind
from lethe.operators.encrypt import EncryptOperator
from lethe.operators.fake import FakeOperator
from lethe.operators.generalise import GeneraliseOperator
from lethe.operators.hmac import HmacOperator
from lethe.operators.mask import MaskOperator
from lethe.operators.noise import NoiseOperator
from lethe.operators.null import NullOperator
from lethe.operators.redact import RedactOperator

OPERATORS: dict[str, type[Operator]] = {
    op.name: op
    for op in (
        NullOperator,
        RedactOperator,
        MaskOperator,
        HmacOperator,
        GeneraliseOperator,
        NoiseOperator,
        FakeOperator,
        EncryptOperator,
    )
}


def get_operator(name: str) -> type[Operator]:
    """The operator class called ``name``, or an error listing the valid names."""
    try:
        return OPERATORS[name]
    except KeyError:
        raise OperatorError(
            f"unknown operator {name!r}; valid operators: {', '.join(sorted(OPERATORS))}"
        ) from None


__all__ = [
    "OPERATORS",
    "ColumnShape",
    "Expression",
    "NoOptions",
    "Operator",
    "OperatorContext",
    "TypeKind",
    "get_operator",
]
