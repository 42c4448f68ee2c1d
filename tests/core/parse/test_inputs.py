"""Strict input parsing and request validation (no torch needed)."""

from __future__ import annotations

import math

import pytest
from actgrad.core.errors import BadInput, BadParameter, TooLarge
from actgrad.core.parse.inputs import Linspace, parse_number, parse_values
from actgrad.core.request import build_request

CAP = 1000


def values(*specs: str, stdin: str | None = None):
    return parse_values(list(specs), max_elements=CAP, read_stdin=lambda: stdin or "")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.5", 0.5),
        ("-2", -2.0),
        ("+1e-3", 1e-3),
        (".5", 0.5),
        ("5.", 5.0),
        ("nan", math.nan),
        ("inf", math.inf),
        ("-inf", -math.inf),
        ("Infinity", math.inf),
        (" 3 ", 3.0),
    ],
)
def test_numbers(text, expected):
    got = parse_number(text, "--x")
    assert got == expected or (math.isnan(got) and math.isnan(expected))


@pytest.mark.parametrize(
    "text", ["", "abc", "1_0", "١", "１", "0x10", "1e", "--1", "1.2.3", "in f", "nan1", "1e999"]
)
def test_bad_numbers(text):
    with pytest.raises(BadInput):
        parse_number(text, "--x")


def test_shapes():
    assert values("1").shape == ()
    assert values("1,2").shape == (2,)
    assert values("[[1,2],[3,4]]").shape == (2, 2)
    assert values("1", "2,3").shape == (3,)
    assert values("0:1:5").pieces == (Linspace(0.0, 1.0, 5),)
    assert values("-", stdin="1\n2 3,4").flat() == [1, 2, 3, 4]
    assert values('["nan", 1]').flat()[1] == 1


def test_token_position_is_named():
    with pytest.raises(BadInput, match=r"'x' in --x \(item 2\)"):
        values("1,x,3")


def test_caps_before_materializing():
    with pytest.raises(TooLarge):
        values("0:1:1001")
    with pytest.raises(TooLarge):
        values("0:1:600", "0:1:600")
    with pytest.raises(TooLarge):
        values("-", stdin=" ".join(["1"] * 1001))
    with pytest.raises(BadInput, match="nested deeper"):
        values("[" * 9 + "1" + "]" * 9)


def test_nested_array_cannot_be_repeated():
    with pytest.raises(BadInput, match="mixes"):
        values("[[1,2]]", "3")


def test_request_validation():
    req = build_request("softmax", {"x": ["[[1,2,3],[4,5,6]]"]}, {"dim": "0"}, index="-1")
    assert (req.params["dim"], req.index) == (-2, 1)
    with pytest.raises(BadParameter, match="elementwise"):
        build_request("sigmoid", {"x": ["1"]}, index=0)
    with pytest.raises(BadParameter, match="deterministic"):
        build_request("sigmoid", {"x": ["1"]}, seed=1)
    with pytest.raises(BadParameter, match="no parameter 'alpha'"):
        build_request("sigmoid", {"x": ["1"]}, {"alpha": 1})
    with pytest.raises(BadParameter, match="true or false"):
        build_request("gumbel_softmax", {"x": ["1,2"]}, {"hard": "maybe"})
    assert build_request("gumbel_softmax", {"x": ["1,2"]}, {"hard": True}).params["hard"] is True
    assert build_request("elu", {"x": ["1"]}, {"alpha": 2}).params["alpha"] == 2.0
