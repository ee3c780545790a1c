"""A local EventBridge event-pattern matcher for the syntax the project's patterns use.

Semantics (EventBridge user guide, "Event patterns" and "Content filtering"):
- a pattern is a tree of objects whose leaves are arrays of matchers; an event matches when
  every leaf matches (AND across fields) and, within a leaf, any matcher matches (OR);
- a leaf applied to an array in the event matches if any element matches;
- matchers: exact values (string, number, boolean, null), {"prefix": s}, {"suffix": s},
  {"equals-ignore-case": s}, {"anything-but": value | [values] | {"prefix"|"suffix": s}},
  {"exists": true|false} and {"numeric": [op, n, (op, n)]};
- every matcher except `exists: false` needs the field to be present.
Anything else raises PatternError instead of silently mismatching.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

_MISSING = object()
_NUMERIC: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    "=": operator.eq,
    ">=": operator.ge,
    ">": operator.gt,
}


class PatternError(ValueError):
    """The pattern uses syntax this matcher does not implement (or is malformed)."""


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """True if `event` matches the EventBridge `pattern`."""
    if not isinstance(pattern, Mapping):
        raise PatternError("an event pattern must be a JSON object")
    return _match_object(pattern, event)


def _match_object(pattern: Mapping[str, Any], node: Any) -> bool:
    for key, expected in pattern.items():
        if key.startswith("$"):
            raise PatternError(f"{key} is not supported by the local matcher")
        value = node.get(key, _MISSING) if isinstance(node, Mapping) else _MISSING
        if isinstance(expected, Mapping):
            if not _match_object(expected, value):
                return False
        elif isinstance(expected, list):
            if not expected:
                raise PatternError(f"the matcher list for {key!r} is empty")
            if not _match_leaf(expected, value):
                return False
        else:
            raise PatternError(f"pattern values must be objects or arrays, got {expected!r}")
    return True


def _match_leaf(matchers: list[Any], value: Any) -> bool:
    if isinstance(value, list):
        # Arrays match if any element does; an empty array behaves like a present field
        # with no values, so only `exists: true` can match it.
        if not value:
            return any(_is_exists(m, True) for m in matchers)
        return any(_match_one(m, item) for m in matchers for item in value)
    return any(_match_one(m, value) for m in matchers)


def _is_exists(matcher: Any, wanted: bool) -> bool:
    return isinstance(matcher, Mapping) and matcher.get("exists") is wanted


def _match_one(matcher: Any, value: Any) -> bool:
    if isinstance(matcher, Mapping):
        return _match_operator(matcher, value)
    if value is _MISSING or isinstance(value, Mapping):
        return False
    return _equal(matcher, value)


def _equal(expected: Any, value: Any) -> bool:
    if isinstance(expected, bool) or isinstance(value, bool) or expected is None or value is None:
        return expected is value or (type(expected) is type(value) and expected == value)
    if isinstance(expected, int | float) and isinstance(value, int | float):
        return float(expected) == float(value)
    return type(expected) is type(value) and expected == value


def _match_operator(matcher: Mapping[str, Any], value: Any) -> bool:
    if len(matcher) != 1:
        raise PatternError(f"a matcher object must have exactly one operator: {dict(matcher)}")
    ((name, argument),) = matcher.items()
    if name == "exists":
        if not isinstance(argument, bool):
            raise PatternError(f"exists takes true or false, got {argument!r}")
        return (value is not _MISSING and not isinstance(value, Mapping)) is argument
    if value is _MISSING or isinstance(value, Mapping):
        return False
    if name == "prefix":
        return isinstance(value, str) and value.startswith(_text(name, argument))
    if name == "suffix":
        return isinstance(value, str) and value.endswith(_text(name, argument))
    if name == "equals-ignore-case":
        return isinstance(value, str) and value.lower() == _text(name, argument).lower()
    if name == "anything-but":
        return _anything_but(argument, value)
    if name == "numeric":
        return _numeric(argument, value)
    raise PatternError(f"matcher {name!r} is not supported by the local matcher")


def _anything_but(argument: Any, value: Any) -> bool:
    if isinstance(argument, Mapping):
        if set(argument) - {"prefix", "suffix"} or len(argument) != 1:
            raise PatternError(f"anything-but supports prefix or suffix objects, got {argument}")
        return not _match_operator(argument, value)
    excluded = argument if isinstance(argument, list) else [argument]
    return not any(_equal(item, value) for item in excluded)


def _numeric(argument: Any, value: Any) -> bool:
    if not isinstance(argument, list) or len(argument) not in (2, 4):
        raise PatternError(f"numeric takes [op, n] or [op, n, op, n], got {argument!r}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    for op, bound in zip(argument[::2], argument[1::2], strict=True):
        if op not in _NUMERIC or isinstance(bound, bool) or not isinstance(bound, int | float):
            raise PatternError(f"numeric comparison {op!r} {bound!r} is not valid")
        if not _NUMERIC[op](float(value), float(bound)):
            return False
    return True


def _text(name: str, argument: Any) -> str:
    if not isinstance(argument, str):
        raise PatternError(f"{name} takes a string, got {argument!r}")
    return argument
