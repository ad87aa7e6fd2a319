"""Anonymisation operators: how retention and erasure rewrite a personal column, the same on every engine.

Each operator is one class in its own file (``null``, ``redact``, ``mask``, ``hmac``, ``generalise``,
``noise``, ``fake``, ``encrypt``) with a name, an options model, the column types it can write, and its SQL
and Python implementations; ``lethe.operators.keyed`` and ``lethe.operators.dialects`` hold what the keyed
ones share, ``lethe.operators.apply`` how a transaction prepares and applies them. The registry is explicit,
with no import side effects: add a file, then add its class to ``OPERATORS``.
"""

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
