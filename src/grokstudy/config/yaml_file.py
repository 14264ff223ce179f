"""Read a preset file strictly: one mapping, no duplicate keys, few aliases, a bounded size.

PyYAML's safe loader takes the last of two equal keys without a word, and a few lines of
nested aliases expand into millions of nodes once anything walks the document. Both are
refused here, before validation sees the document.
"""

from pathlib import Path

import yaml

from grokstudy.errors import ConfigError

MAX_BYTES = 256 * 1024
MAX_ALIASES = 64  # the bundled presets use at most 6 (merge keys of a shared world)
FILE = "--configfile"


class _CountingLoader(yaml.SafeLoader):
    """A safe loader that refuses more than MAX_ALIASES aliases while composing."""

    def __init__(self, stream):
        super().__init__(stream)
        self.aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                line = self.peek_event().start_mark.line + 1
                raise ConfigError(
                    FILE, f"more than {MAX_ALIASES} YAML aliases (line {line}); allowed: at most {MAX_ALIASES}"
                )
        return super().compose_node(parent, index)


def _refuse_duplicate_keys(node: yaml.Node, path: tuple = (), seen_nodes: set | None = None) -> None:
    """Walk the composed node tree once (an aliased node is visited once) and name any key given twice."""
    seen_nodes = set() if seen_nodes is None else seen_nodes
    if id(node) in seen_nodes:
        return
    seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        lines = {}
        for key_node, value_node in node.value:
            # Keys merged in from an anchor ("<<") may be overridden: that is what merging is for.
            if key_node.tag != "tag:yaml.org,2002:merge" and isinstance(key_node, yaml.ScalarNode):
                key = key_node.value
                if key in lines:
                    where = ".".join([*path, key])
                    raise ConfigError(
                        where, f"given twice (lines {lines[key]} and {key_node.start_mark.line + 1}); allowed: once"
                    )
                lines[key] = key_node.start_mark.line + 1
            child = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
            _refuse_duplicate_keys(value_node, (*path, child), seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _refuse_duplicate_keys(item, (*path, str(index)), seen_nodes)


def _parse(text: str, path: Path):
    loader = _CountingLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _refuse_duplicate_keys(node)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(FILE, f"{path} is not valid YAML{where}: {error.problem}") from None
    except yaml.YAMLError as error:
        raise ConfigError(FILE, f"{path} is not valid YAML: {str(error).splitlines()[0]}") from None
    finally:
        loader.dispose()


def _read_text(path: Path) -> str:
    if not path.exists():
        raise ConfigError(FILE, f"{path} does not exist; allowed: a preset file such as config/config.yaml")
    if not path.is_file():
        raise ConfigError(FILE, f"{path} is not a regular file; allowed: a preset file such as config/config.yaml")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ConfigError(FILE, f"{path} has {size} bytes; allowed: at most {MAX_BYTES}")
    raw = path.read_bytes()
    if b"\x00" in raw:
        offset = raw.index(b"\x00")
        raise ConfigError(FILE, f"{path} holds a NUL byte at offset {offset}; allowed: UTF-8 text")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(FILE, f"{path} is not UTF-8 text (byte {error.start}); allowed: UTF-8 text") from None


def load_mapping(path: Path) -> dict:
    """The preset file as a mapping; every refusal is a ConfigError naming what is wrong."""
    path = Path(path)
    text = _read_text(path)
    document = _parse(text, path)
    if document is None or document == {}:
        raise ConfigError(
            FILE,
            f"{path} is empty; allowed: a preset mapping (see config/config.yaml); no default is used in its place",
        )
    if not isinstance(document, dict):
        raise ConfigError(FILE, f"{path} holds a {type(document).__name__}, not a mapping; allowed: a preset mapping")
    return document


def configfile_arguments(argv: list[str]) -> list[str]:
    """The files a Snakemake command line names with --configfile/--configfiles."""
    paths, taking = [], False
    for arg in argv[1:]:
        if arg in ("--configfile", "--configfiles"):
            taking = True
        elif arg.startswith(("--configfile=", "--configfiles=")):
            paths.append(arg.split("=", 1)[1])
            taking = False
        elif taking and not arg.startswith("-"):
            paths.append(arg)
        else:
            taking = False
    return paths


def refuse_bad_configfiles(argv: list[str]) -> None:
    """Check the files of a Snakemake command line before Snakemake reads them itself.

    Snakemake parses --configfile before any workflow code runs, and meets a directory, a YAML
    syntax error or a NUL byte with a traceback or a message that names no file. The workflow
    profile (profiles/default) calls this first, so those get the same one-line error as the rest.
    """
    for path in configfile_arguments(argv):
        try:
            load_mapping(Path(path))
        except ConfigError as error:
            raise SystemExit(f"invalid preset, nothing was run: {error}") from None
