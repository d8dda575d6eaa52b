import dataclasses

import pytest

from lensfind.validation import (ConfigError, check_choice, check_interval, check_range, from_mapping,
                                 lookup, to_dict)


def test_check_range_names_field_value_and_interval():
    assert check_range("a.b", 0.5, 0, 1) == 0.5
    with pytest.raises(ConfigError, match=r"a\.b = -1 is invalid: expected a number in \[0, 1\]"):
        check_range("a.b", -1, 0, 1)
    with pytest.raises(ConfigError, match=r"\(0, 1\]"):
        check_range("q", 0.0, 0, 1, lo_open=True)
    with pytest.raises(ConfigError, match="q = nan"):
        check_range("q", float("nan"), 0, 1)
    with pytest.raises(ConfigError, match="q = True"):
        check_range("q", True, 0, 1)


def test_check_interval_and_choice():
    assert check_interval("r", [0.5, 1.5], 0) == (0.5, 1.5)
    with pytest.raises(ConfigError, match="low <= high"):
        check_interval("r", [2.0, 1.0], 0)
    with pytest.raises(ConfigError, match="two numbers"):
        check_interval("r", 3.0, 0)
    with pytest.raises(ConfigError, match="one of 'a', 'b'"):
        check_choice("k", "c", ["b", "a"])


def test_lookup_lists_known_names():
    assert lookup({"x": 1}, "x", "backbone") == 1
    with pytest.raises(ValueError, match="unknown backbone 'y': expected one of u, x"):
        lookup({"x": 1, "u": 2}, "y", "backbone")


@dataclasses.dataclass(frozen=True)
class _Inner:
    width: float = 1.0


@dataclasses.dataclass(frozen=True)
class _Outer:
    inner: _Inner = _Inner()
    sizes: tuple[int, ...] = (1, 2)


def test_from_mapping_builds_nested_and_refuses_unknown_keys():
    obj = from_mapping(_Outer, {"inner": {"width": 3.0}, "sizes": [4, 5]}, "sec")
    assert obj == _Outer(_Inner(3.0), (4, 5))
    assert to_dict(obj) == {"inner": {"width": 3.0}, "sizes": [4, 5]}
    with pytest.raises(ConfigError, match=r"sec\.inner: unknown setting\(s\) height; expected some of width"):
        from_mapping(_Outer, {"inner": {"height": 3.0}}, "sec")
