"""config/README.md: every preset key, its type, default, allowed values and meaning, generated from
the typed preset's JSON schema (grokstudy.config.schema_file), so the page cannot drift from it.

Regenerate after changing grokstudy.config.model: `python -m grokstudy.config.keys_doc`.
A test holds the committed page equal to what the model generates.
"""

import json
import sys
from pathlib import Path

from grokstudy.config.schema_file import schema_text

KEYS_DOC_PATH = Path("config/README.md")
TOP = "the preset file"
BOUNDS = (
    ("minimum", "≥ {}"),
    ("exclusiveMinimum", "> {}"),
    ("maximum", "≤ {}"),
    ("exclusiveMaximum", "< {}"),
    ("minLength", "at least {} characters"),
    ("maxLength", "at most {} characters"),
    ("minItems", "at least {} items"),
    ("maxItems", "at most {} items"),
    ("minProperties", "at least {} entries"),
    ("pattern", "matches `{}`"),
)


def _anchor(name: str) -> str:
    return name.lower()


def type_of(prop: dict) -> str:
    """A property's type in words, with a link to the section of a nested object."""
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{_anchor(name)})"
    for union in ("anyOf", "oneOf"):
        if union in prop:
            return " or ".join(type_of(option) for option in prop[union])
    if "const" in prop:
        return f"`{json.dumps(prop['const'])}`"
    if "enum" in prop:
        return "one of " + ", ".join(f"`{json.dumps(v)}`" for v in prop["enum"])
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {type_of(prop.get('items', {}))}"
    values = prop.get("additionalProperties") or next(iter(prop.get("patternProperties", {}).values()), None)
    if kind == "object" and isinstance(values, dict):
        return f"map of name to {type_of(values)}"
    return {"null": "none"}.get(kind, kind)


def allowed(prop: dict) -> str:
    found = [template.format(prop[key]) for key, template in BOUNDS if key in prop]
    for union in ("anyOf", "oneOf"):
        found += [a for option in prop.get(union, []) if (a := allowed(option))]
    if prop.get("type") == "array":
        found += [f"each {a}" for a in [allowed(prop.get("items", {}))] if a]
    return "; ".join(found)


def _default(value) -> str:
    """A default in words: a nested object's own defaults are in its section."""
    return "its section's defaults" if isinstance(value, dict) else f"`{json.dumps(value)}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def section(title: str, schema: dict) -> list[str]:
    required = set(schema.get("required", ()))
    lines = [f"## {title}", ""]
    if schema.get("description"):
        lines += [" ".join(schema["description"].split()), ""]
    lines += ["| key | type | default | allowed | meaning |", "|---|---|---|---|---|"]
    for key, prop in schema.get("properties", {}).items():
        default = "required" if key in required else _default(prop.get("default"))
        cells = (f"`{key}`", type_of(prop), default, allowed(prop), prop.get("description", ""))
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return [*lines, ""]


def keys_text() -> str:
    schema = json.loads(schema_text())
    lines = [
        "# Preset keys",
        "",
        "Every key of a preset file (`config/*.yaml`), generated from the typed preset",
        "(`grokstudy.config.model`) by `python -m grokstudy.config.keys_doc`; a test keeps it in step.",
        "A preset is checked against these before any job runs, and a bad value is refused with its",
        "key named. Values the preset leaves out take the default; `run_defaults` fill each run.",
        "",
        *section(TOP, schema),
    ]
    for name, definition in sorted(schema.get("$defs", {}).items()):
        lines += section(name, definition)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else KEYS_DOC_PATH
    target.write_text(keys_text())
    print(f"wrote {target}")
