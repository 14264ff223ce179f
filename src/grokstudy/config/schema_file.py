"""The preset's JSON schema, generated from the typed model (workflow/schemas/preset.schema.json).

Regenerate after changing grokstudy.config.model: `python -m grokstudy.config.schema_file`.
A test holds the committed file equal to what the model generates.
"""

import json
import sys
from pathlib import Path

from typing import Annotated

from pydantic import Field, create_model

from grokstudy.config.model import Name, Preset, RunDefaults

SCHEMA_PATH = Path("workflow/schemas/preset.schema.json")


# The file as written: a run may leave any key to run_defaults (after merging, all are required).
PresetFile = create_model(
    "PresetFile",
    __base__=Preset,
    __doc__=Preset.__doc__,
    runs=(
        Annotated[
            dict[Name, RunDefaults], Field(min_length=1, description="runs; keys missing here come from run_defaults")
        ],
        ...,
    ),
)


def schema_text() -> str:
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **PresetFile.model_json_schema()}
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMA_PATH
    target.write_text(schema_text())
    print(f"wrote {target}")
