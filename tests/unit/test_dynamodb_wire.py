"""The table adapter's own attribute (de)serializer answers exactly what boto3's TypeSerializer and
TypeDeserializer answer (or refuse), for every value: it only takes a shorter path for the common types."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from hypothesis import example, given
from hypothesis import strategies as st

from scheduled_sends.adapters.dynamodb import _deserialize, _serialize

_BOTO3_SERIALIZE = TypeSerializer().serialize
_BOTO3_DESERIALIZE = TypeDeserializer().deserialize

scalars = st.one_of(
    st.text(),
    st.integers(),
    st.integers(min_value=-(10**40), max_value=10**40),  # past DynamoDB's 38 digits: boto3 refuses them
    st.booleans(),
    st.none(),
    st.decimals(allow_nan=False, allow_infinity=False, places=3),
    st.binary(max_size=8),
    st.floats(allow_nan=False),  # boto3 refuses floats
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(max_size=5), inner, max_size=3),
        st.sets(st.text(max_size=5), min_size=1, max_size=3),
        st.sets(st.integers(), min_size=1, max_size=3),
    ),
    max_leaves=8,
)


def _outcome(function: Callable[[Any], Any], value: object) -> tuple:
    try:
        return "answer", function(value)
    except Exception as error:  # the same refusal (type and message) counts as the same answer
        return "refused", type(error), str(error)


@given(values)
@example(10**38 - 1)
@example(10**38)  # 39 digits: boto3 refuses it, and so must we
@example(-(10**38))
@example(True)
@example(1.5)
def test_serialize_answers_as_boto3_does(value: object) -> None:
    assert _outcome(_serialize, value) == _outcome(_BOTO3_SERIALIZE, value)


@given(values)
def test_deserialize_answers_as_boto3_does(value: object) -> None:
    try:
        wire = _BOTO3_SERIALIZE(value)
    except Exception:
        return  # nothing DynamoDB could hold
    ours, theirs = _deserialize(wire), _BOTO3_DESERIALIZE(wire)
    assert ours == theirs
    assert type(ours) is type(theirs)


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ({"S": ""}, ""),
        ({"N": "1800000000"}, Decimal(1800000000)),
        ({"N": "-0.25"}, Decimal("-0.25")),
        ({"BOOL": False}, False),
        ({"NULL": True}, None),
        ({"B": b"\x00"}, Binary(b"\x00")),
        ({"NS": ["3600", "86400"]}, {Decimal(3600), Decimal(86400)}),
    ],
)
def test_each_tag_comes_back_as_boto3_gives_it(wire: dict, expected: object) -> None:
    assert _deserialize(wire) == expected == _BOTO3_DESERIALIZE(wire)
    assert type(_deserialize(wire)) is type(_BOTO3_DESERIALIZE(wire))
