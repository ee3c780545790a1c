"""A request checked against botocore's input shape for its operation, in AWS's words.

botocore's own `ParamValidator` checks what it checks (required members, types, minimum
lengths and values, unknown members); the same shape metadata gives the rest, which
botocore leaves to the service: enums, patterns, maximum lengths and values, list and map
lengths. Patterns are the service's Java regular expressions (some use `\\p{...}`), matched
whole as Java's `Pattern.matches` does, with the `regex` package, which reads them as they
are.

Messages are worded as AWS services word them, e.g.
  Value 'foo' at 'resourceConfig.instanceType' failed to satisfy constraint: Member must
  satisfy enum value set: [ml.m4.xlarge, ...]
  Value '[a, b]' at 'containerArguments' failed to satisfy constraint: Member must satisfy
  constraint: [Member must have length less than or equal to 256, ...]
  Value null at 'roleArn' failed to satisfy constraint: Member must not be null
and joined as "N validation errors detected: ...; ...". Member paths use the members'
lowerCamelCase wire names, list items `<list>.<n>.member` (1-based), and a list of scalars or
a map is reported at the list or map itself (the wording of AWS's ValidationException
messages, e.g. from CodePipeline, Lambda and DynamoDB). A value of the wrong type is what the
service's JSON parser refuses before validating anything: "SerializationException:
STRING_VALUE can not be converted to an Integer".

Values only known at run time (another step's properties) are `Reference`s without a value:
their type is checked against the member ("Cannot assign property reference [X] to argument
of type [String].", CreatePipeline's wording) and their content when the step runs.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

VALIDATION = "validation"  # ValidationException: constraint violations, all reported at once
SERIALIZATION = "serialization"  # SerializationException: the first value of the wrong type
DEFINITION = "definition"  # CreatePipeline refuses the definition itself
UNKNOWN_MEMBER = "unknown-member"  # botocore refuses a member the operation does not have


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()
PathItem = str | int | tuple[str, str]  # member, list index, ("key"|"value", map key)
Path = tuple[PathItem, ...]

# Pipeline parameter types -> botocore scalar type names.
PARAMETER_TYPES = {"String": "string", "Integer": "integer", "Float": "float", "Boolean": "boolean"}
ACCEPTED_TYPES = {
    "string": {"string"},
    "integer": {"integer"},
    "long": {"integer"},
    "float": {"integer", "float"},
    "double": {"integer", "float"},
    "boolean": {"boolean"},
}
_TYPE_WORDS = {
    "string": "String",
    "integer": "Integer",
    "long": "Long",
    "float": "Float",
    "double": "Double",
    "boolean": "Boolean",
    "timestamp": "Date",
    "blob": "ByteBuffer",
}


@dataclass(frozen=True)
class Reference:
    """A value the request gets from an expression: a parameter, an execution variable, a
    Std:Join, another step's property. `value` is UNKNOWN until the step runs."""

    expression: str
    type_name: str  # "string" | "integer" | "float" | "boolean" | "any"
    value: Any = UNKNOWN
    sources: tuple[str, ...] = field(default=())  # parameters and steps it is made from

    @property
    def known(self) -> bool:
        return self.value is not UNKNOWN


@dataclass(frozen=True)
class Violation:
    path: Path
    message: str
    kind: str = VALIDATION
    sources: tuple[str, ...] = ()


def aws_path(path: Path) -> str:
    """("ProcessingInputs", 0, "S3Input", "S3Uri") -> "processingInputs.1.member.s3Input.s3Uri"."""
    parts: list[str] = []
    for item in path:
        if isinstance(item, int):
            parts.append(f"{item + 1}.member")
        elif isinstance(item, tuple):
            parts.append(str(item[1]))
        else:
            parts.append(item[:1].lower() + item[1:])
    return ".".join(parts)


def java_text(value: Any) -> str:
    """A value as the service prints it in a message (Java's toString of the parsed JSON)."""
    if isinstance(value, Reference):
        return java_text(value.value) if value.known else f"<{value.expression}>"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}={java_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(java_text(v) for v in value) + "]"
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def service_error(violations: Sequence[Violation]) -> str:
    """The service's answer to a request with these violations."""
    for kind in (DEFINITION, UNKNOWN_MEMBER, SERIALIZATION):
        first = next((v for v in violations if v.kind == kind), None)
        if first is not None:
            return first.message
    messages = [v.message for v in violations if v.kind == VALIDATION]
    noun = "validation error" if len(messages) == 1 else "validation errors"
    return f"{len(messages)} {noun} detected: " + "; ".join(messages)


# -- service models -----------------------------------------------------------------------


_LOADING = threading.Lock()


def _load_service_model(service: str):
    """botocore's model of `service`, from its data files alone. Not through a Session: a
    session resolves the configured profile first, and a local run must not fail because
    AWS_PROFILE names a profile this machine does not have (the models need none)."""
    import botocore.loaders
    import botocore.model

    data = botocore.loaders.create_loader().load_service_model(service, "service-2")
    return botocore.model.ServiceModel(data, service_name=service)


_MODELS: dict[str, Any] = {}


def _service(service: str):
    # Parallel steps may check their first requests at once: load each model once.
    model = _MODELS.get(service)
    if model is None:
        with _LOADING:
            model = _MODELS.get(service)
            if model is None:
                model = _MODELS[service] = _load_service_model(service)
    return model


@functools.cache
def operation_input(service: str, operation: str):
    """botocore's input shape for `service`:`operation`."""
    return _service(service).operation_model(operation).input_shape


@functools.cache
def operation_output(service: str, operation: str):
    return _service(service).operation_model(operation).output_shape


_SURROGATE_PAIR = re.compile(r"\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})", re.IGNORECASE)


def _code_point(match: re.Match[str]) -> str:
    high, low = int(match[1], 16), int(match[2], 16)
    return f"\\U{0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00):08X}"


@functools.cache
def compiled_pattern(text: str):
    """The pattern as the service reads it. Java strings are UTF-16, so an escaped surrogate
    pair (\\uD800\\uDC00) is one code point there (U+10000): written as such, the only
    spelling a Python regex shares with it. Nothing else is rewritten."""
    import regex

    return regex.compile(_SURROGATE_PAIR.sub(_code_point, text))


def pattern_matches(pattern: str, value: str) -> bool:
    """Java's Pattern.matches: the whole value must match."""
    return compiled_pattern(pattern).fullmatch(value) is not None


# -- checking -----------------------------------------------------------------------------


def check(service: str, operation: str, request: Mapping[str, Any]) -> list[Violation]:
    """Every violation of `request` (which may hold `Reference`s) against the operation."""
    shape = operation_input(service, operation)
    walker = _Walker()
    walker.walk(request, shape, ())
    walker.add_botocore_errors(plain(request), shape)
    return walker.result()


def plain(value: Any) -> Any:
    """The request botocore's validator sees: references replaced by their values (or, when
    not known yet, by a stand-in whose own errors are ignored)."""
    if isinstance(value, Reference):
        if value.known:
            return plain(value.value)
        return {"string": "x", "integer": 1, "float": 1.0, "boolean": True}.get(
            value.type_name, "x"
        )
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _constraint_texts(shape) -> list[str]:
    """Every constraint of a scalar shape, in the order AWS lists them."""
    meta = shape.metadata
    texts = []
    if shape.type_name == "string":
        if "max" in meta:
            texts.append(f"Member must have length less than or equal to {meta['max']}")
        if "min" in meta:
            texts.append(f"Member must have length greater than or equal to {meta['min']}")
        if "pattern" in meta:
            texts.append(f"Member must satisfy regular expression pattern: {meta['pattern']}")
        if getattr(shape, "enum", None):
            texts.append(f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
    elif shape.type_name in ("integer", "long", "float", "double"):
        if "max" in meta:
            texts.append(f"Member must have value less than or equal to {meta['max']}")
        if "min" in meta:
            texts.append(f"Member must have value greater than or equal to {meta['min']}")
    return texts


def _scalar_failures(value: Any, shape) -> list[str]:
    """The constraints botocore does not check that `value` fails."""
    meta = shape.metadata
    failed = []
    if shape.type_name == "string" and isinstance(value, str):
        if "max" in meta and len(value) > meta["max"]:
            failed.append(f"Member must have length less than or equal to {meta['max']}")
        if "pattern" in meta and not pattern_matches(meta["pattern"], value):
            failed.append(f"Member must satisfy regular expression pattern: {meta['pattern']}")
        enum = getattr(shape, "enum", None)
        if enum and value not in enum:
            failed.append(f"Member must satisfy enum value set: [{', '.join(enum)}]")
    elif (
        shape.type_name in ("integer", "long", "float", "double")
        and isinstance(value, int | float)
        and not isinstance(value, bool)
        and "max" in meta
        and value > meta["max"]
    ):
        failed.append(f"Member must have value less than or equal to {meta['max']}")
    return failed


class _Walker:
    def __init__(self) -> None:
        self.violations: list[Violation] = []
        self._seen: set[tuple[Path, str]] = set()
        self._unknown: list[Path] = []  # values not known yet: botocore's errors there are moot
        self._typed: list[Path] = []  # references already refused for their type
        self._sources: dict[Path, tuple[str, ...]] = {}

    def result(self) -> list[Violation]:
        return self.violations

    def _add(self, path: Path, message: str, kind: str = VALIDATION) -> None:
        key = (path, message)
        if key in self._seen:
            return
        self._seen.add(key)
        self.violations.append(Violation(path, message, kind, self._sources_for(path)))

    def _sources_for(self, path: Path) -> tuple[str, ...]:
        if not path:
            return ()
        found: list[str] = []
        for where, sources in self._sources.items():
            if where[: len(path)] == path or path[: len(where)] == where:
                found += [s for s in sources if s not in found]
        return tuple(found)

    # -- the extra checks, from the shape's metadata ----------------------------------------

    def walk(self, value: Any, shape, path: Path, container: tuple | None = None) -> None:
        if isinstance(value, Reference):
            self._sources[path] = value.sources or (value.expression,)
            if not self._type_fits(value, shape, path):
                return
            if not value.known:
                self._unknown.append(path)
                return
            value = value.value
        kind = shape.type_name
        if kind == "structure" and isinstance(value, Mapping):
            for name, item in value.items():
                if name in shape.members:
                    self.walk(item, shape.members[name], (*path, name))
        elif kind == "list" and isinstance(value, list | tuple):
            self._container_length(value, shape, path)
            for index, item in enumerate(value):
                self.walk(item, shape.member, (*path, index), ("list", value, path))
        elif kind == "map" and isinstance(value, Mapping):
            self._container_length(value, shape, path)
            for key, item in value.items():
                self.walk(key, shape.key, (*path, ("key", key)), ("key", value, path))
                self.walk(item, shape.value, (*path, ("value", key)), ("value", value, path))
        else:
            failed = _scalar_failures(value, shape)
            if failed:
                self._scalar(value, shape, path, container, failed)

    def _type_fits(self, reference: Reference, shape, path: Path) -> bool:
        accepted = ACCEPTED_TYPES.get(shape.type_name)
        if reference.type_name == "any" or accepted is None or reference.type_name in accepted:
            return True
        target = _TYPE_WORDS.get(shape.type_name, shape.type_name.capitalize())
        if reference.expression.startswith(("Parameters.", "Execution.", "Steps.")):
            what = f"property reference [{reference.expression}]"
        else:
            what = f"{reference.expression} of type [{_TYPE_WORDS[reference.type_name]}]"
        self._add(path, f"Cannot assign {what} to argument of type [{target}].", DEFINITION)
        self._typed.append(path)
        return False

    def _container_length(self, value: Any, shape, path: Path) -> None:
        limit = shape.metadata.get("max")
        if limit is not None and len(value) > limit:
            self._add(
                path,
                f"Value '{java_text(value)}' at '{aws_path(path)}' failed to satisfy "
                f"constraint: Member must have length less than or equal to {limit}",
            )

    def _scalar(
        self, value: Any, shape, path: Path, container: tuple | None, failed: list[str]
    ) -> None:
        if container is None:
            for text in failed:
                self._add(path, self._value_message(value, shape, path, text))
            return
        role, whole, where = container
        constraints = [*_constraint_texts(shape), "Member must not be null"]
        lead = {"list": "Member", "key": "Map key", "value": "Map value"}[role]
        self._add(
            where,
            f"Value '{java_text(whole)}' at '{aws_path(where)}' failed to satisfy constraint: "
            f"{lead} must satisfy constraint: [{', '.join(constraints)}]",
        )

    @staticmethod
    def _value_message(value: Any, shape, path: Path, text: str) -> str:
        shown = "Value" if shape.metadata.get("sensitive") else f"Value '{java_text(value)}'"
        return f"{shown} at '{aws_path(path)}' failed to satisfy constraint: {text}"

    # -- botocore's ParamValidator ----------------------------------------------------------

    def add_botocore_errors(self, params: Mapping[str, Any], shape) -> None:
        for reason, name, details in _botocore_report(params, shape):
            where = _locate(name, params, shape)
            if where is None or self._moot(where.path):
                continue
            if reason == "missing required field":
                path = (*where.path, details["required_name"])
                self._add(
                    path,
                    f"Value null at '{aws_path(path)}' failed to satisfy constraint: Member "
                    "must not be null",
                )
            elif reason in ("invalid length", "invalid range"):
                word = "length" if reason == "invalid length" else "value"
                text = f"Member must have {word} greater than or equal to {details['min_allowed']}"
                if where.shape.type_name in ("list", "map"):
                    self._add(
                        where.path,
                        f"Value '{java_text(where.value)}' at '{aws_path(where.path)}' failed "
                        f"to satisfy constraint: {text}",
                    )
                else:
                    self._scalar(where.value, where.shape, where.path, where.container, [text])
            elif reason == "invalid type":
                self._add(
                    where.path, _serialization_message(where.value, where.shape), SERIALIZATION
                )
            else:
                self._add(where.path, _botocore_text(reason, name, details), UNKNOWN_MEMBER)

    def _moot(self, path: Path) -> bool:
        return any(path[: len(p)] == p for p in (*self._unknown, *self._typed))


def _serialization_message(value: Any, shape) -> str:
    if isinstance(value, Mapping):
        found = "Start of structure or map found where not expected."
        return f"SerializationException: {found}"
    if isinstance(value, list | tuple):
        return "SerializationException: Start of list found where not expected"
    if isinstance(value, bool):
        token = "TRUE_VALUE" if value else "FALSE_VALUE"
    elif isinstance(value, int | float):
        token = "NUMBER_VALUE"
    else:
        token = "STRING_VALUE"
    target = _TYPE_WORDS.get(shape.type_name, shape.type_name.capitalize())
    article = "an" if target[0] in "AEIOU" else "a"
    return f"SerializationException: {token} can not be converted to {article} {target}"


def _botocore_report(params: Mapping[str, Any], shape) -> list[tuple[str, str, dict]]:
    from botocore.validate import ParamValidator, ValidationErrors

    class Collected(ValidationErrors):
        def __init__(self) -> None:
            super().__init__()
            self.items: list[tuple[str, str, dict]] = []

        def report(self, name, reason, **kwargs):
            self.items.append((reason, name, kwargs))
            super().report(name, reason, **kwargs)

    class Collecting(ParamValidator):
        def collect(self, params, shape) -> list[tuple[str, str, dict]]:
            errors = Collected()
            self._validate(params, shape, errors, name="")
            return errors.items

    return Collecting().collect(params, shape)


def _botocore_text(reason: str, name: str, details: dict) -> str:
    """botocore's own wording for the errors only botocore reports (unknown members)."""
    from botocore.validate import ValidationErrors

    errors = ValidationErrors()
    errors.report(name, reason, **details)
    return errors.generate_report()


@dataclass(frozen=True)
class _Where:
    path: Path
    shape: Any
    value: Any
    container: tuple | None


_MEMBER = re.compile(r"\.([A-Za-z0-9_]+)")
_INDEX = re.compile(r"\[(\d+)\]")


def _locate(name: str, params: Any, shape) -> _Where | None:
    """botocore's error name (".A.B[0].C", ".Env.KEY", ".Env (key: K)") as a path, walking
    the request so that map keys holding dots are read whole."""
    path: list[PathItem] = []
    value, rest, container = params, name, None
    while rest:
        kind = shape.type_name
        if kind == "map" and rest.startswith(" (key: ") and rest.endswith(")"):
            key = rest[len(" (key: ") : -1]
            return _Where((*path, ("key", key)), shape.key, key, ("key", value, tuple(path)))
        if kind == "structure":
            match = _MEMBER.match(rest)
            if not match or match[1] not in shape.members or not isinstance(value, Mapping):
                return None
            path.append(match[1])
            container, shape, value = None, shape.members[match[1]], value.get(match[1])
        elif kind == "list":
            match = _INDEX.match(rest)
            if not match or not isinstance(value, list):
                return None
            index = int(match[1])
            container = ("list", value, tuple(path))
            path.append(index)
            shape, value = shape.member, value[index]
        elif kind == "map" and rest.startswith(".") and isinstance(value, Mapping):
            keys = [
                str(k)
                for k in value
                if rest[1:].startswith(str(k))
                and (len(rest) == len(str(k)) + 1 or rest[len(str(k)) + 1] in ".[ ")
            ]
            if not keys:
                return None
            key = max(keys, key=len)
            container = ("value", value, tuple(path))
            path.append(("value", key))
            shape, value = shape.value, value[key]
            rest = rest[len(key) + 1 :]
            continue
        else:
            return None
        rest = rest[match.end() :]
    return _Where(tuple(path), shape, value, container)
