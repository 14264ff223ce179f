"""Turn a pydantic validation error into one line that names the key and what is allowed."""

import reprlib
import types
import typing

import annotated_types
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from grokstudy.errors import ConfigError

_SHORT = reprlib.Repr()  # a value is shown cut short: a huge document must not flood the message
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxstring, _SHORT.maxother = 2, 4, 4, 60, 60
_TYPE_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
_BOUNDS = (
    (annotated_types.Ge, ">= {}", "ge"),
    (annotated_types.Gt, "> {}", "gt"),
    (annotated_types.Le, "<= {}", "le"),
    (annotated_types.Lt, "< {}", "lt"),
    (annotated_types.MinLen, "with at least {} entries", "min_length"),
    (annotated_types.MaxLen, "at most {} entries", "max_length"),
)


def _unwrap(annotation):
    """(bare type, constraint metadata) of an annotation, through Annotated and Optional."""
    metadata = []
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation, *extra = typing.get_args(annotation)
            for item in extra:
                metadata += item.metadata if isinstance(item, FieldInfo) else [item]
        elif origin in (typing.Union, types.UnionType) and type(None) in typing.get_args(annotation):
            rest = [a for a in typing.get_args(annotation) if a is not type(None)]
            # A union of a run-time tuple of members: only typing.Union can build it.
            annotation = rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]  # noqa: UP007
        else:
            return annotation, metadata


def _field_at(model: type[BaseModel], loc: tuple) -> tuple[object, list]:
    """The annotation and constraints of the value at `loc`, walking models, dicts, lists and tagged unions."""
    annotation, metadata = model, []
    for part in loc:
        annotation, _ = _unwrap(annotation)
        origin = typing.get_origin(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            info = annotation.model_fields.get(part)
            if info is None:
                return None, []
            annotation, metadata = _unwrap(typing.Annotated[info.annotation, info])
        elif origin is dict:
            if part == "[key]":
                annotation, metadata = _unwrap(typing.get_args(annotation)[0])
            else:
                annotation, metadata = _unwrap(typing.get_args(annotation)[1])
        elif origin is list:
            annotation, metadata = _unwrap(typing.get_args(annotation)[0])
        elif origin in (typing.Union, types.UnionType):
            # A tagged union (written `A | B`, a types.UnionType, or typing.Union[A, B]) puts the tag in the
            # location: pick the member whose task it names.
            members = [
                m for m in typing.get_args(annotation) if part in typing.get_args(m.model_fields["task"].annotation)
            ]
            if not members:
                return None, []
            annotation, metadata = members[0], []
        else:
            return None, []
    return annotation, metadata


def _allowed(annotation, metadata: list) -> str:
    bare, extra = _unwrap(annotation) if annotation is not None else (None, [])
    metadata = metadata + extra
    words = []
    if typing.get_origin(bare) is typing.Literal:
        words.append("one of " + ", ".join(repr(v) for v in typing.get_args(bare)))
    elif bare in _TYPE_WORDS:
        words.append(_TYPE_WORDS[bare])
    elif typing.get_origin(bare) is list:
        words.append("a list")
    elif typing.get_origin(bare) is dict or (isinstance(bare, type) and issubclass(bare, BaseModel)):
        words.append("a mapping")
    for item in metadata:
        for kind, text, attribute in _BOUNDS:
            if isinstance(item, kind):
                words.append(text.format(getattr(item, attribute)))
        if getattr(item, "pattern", None):
            words.append(f"matching {item.pattern}")
    return (
        " ".join(words[:1]) + ("" if len(words) < 2 else " " + " and ".join(words[1:]))
        if words
        else "see workflow/schemas/preset.schema.json"
    )


def _keys_of(annotation) -> list[str]:
    bare, _ = _unwrap(annotation) if annotation is not None else (None, [])
    return sorted(bare.model_fields) if isinstance(bare, type) and issubclass(bare, BaseModel) else []


def _dotted(loc: tuple) -> str:
    """The key as written in the preset: without pydantic's "[key]" marker or a dataset's task tag."""
    parts = [p for p in loc if p != "[key]"]
    if len(parts) >= 3 and parts[0] == "datasets":
        del parts[2]
    return ".".join(str(p).encode("unicode_escape").decode() for p in parts) or "<top level>"


def config_error(model: type[BaseModel], error: ValidationError) -> ConfigError:
    """The first problem of a validation error, as a ConfigError with the key and the allowed values."""
    first = error.errors(include_url=False)[0]
    loc, kind = tuple(first["loc"]), first["type"]
    key = _dotted(loc)
    if kind == "missing":
        return ConfigError(key, "is required but missing")
    if kind == "extra_forbidden":
        allowed = ", ".join(_keys_of(_field_at(model, loc[:-1])[0]))
        return ConfigError(key, f"is not a known key; allowed keys here: {allowed}")
    if kind == "union_tag_invalid":
        return ConfigError(
            f"{key}.task",
            f"{_SHORT.repr(first['ctx']['tag'])} is not allowed; allowed: one of 'composition', 'comparison'",
        )
    if kind == "union_tag_not_found":
        return ConfigError(f"{key}.task", "is required but missing; allowed: one of 'composition', 'comparison'")
    if loc and loc[-1] == "[key]":  # a name in a mapping of names (runs, datasets, models)
        mapping, _ = _unwrap(_field_at(model, loc[:-2])[0])
        name_type, metadata = _unwrap(typing.get_args(mapping)[0])
        return ConfigError(
            _dotted(loc[:-2]),
            f"the name {_SHORT.repr(first['input'])} is not allowed; allowed: {_allowed(name_type, metadata)}",
        )
    annotation, metadata = _field_at(model, loc)
    return ConfigError(key, f"{_SHORT.repr(first['input'])} is not allowed; allowed: {_allowed(annotation, metadata)}")
