"""Residual sites by name, in TransformerLens's spirit, shared by the probes, the monitors, the
claims, the figures and the presets.

`resid.{d}` is the residual state after d block applications: `resid.0` leaves the embeddings,
`resid.{depth}` enters the final norm. In a looped model the state after block j of loop i (both
counted from 1) is also `loop{i}.block{j}`, the same state as `resid.{(i - 1) * layers_per_loop + j}`.
A site read at one prompt position is written `{site}@{position}`, e.g. `resid.2@r1`.

Standard library only: the preset check and the Snakefile read it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

RESID = re.compile(r"resid\.(\d+)")
LOOP_BLOCK = re.compile(r"loop(\d+)\.block(\d+)")
# What a preset may write where it names a site.
PATTERN = r"^(resid\.\d+|loop\d+\.block\d+)$"


def resid(depth: int) -> str:
    return f"resid.{depth}"


def loop_block(depth: int, layers_per_loop: int) -> str:
    """The looped name of the state at `depth`; the embeddings have none but `resid.0`."""
    if depth == 0:
        return resid(0)
    loop, block = divmod(depth - 1, layers_per_loop)
    return f"loop{loop + 1}.block{block + 1}"


def label(depth: int, layers_per_loop: int | None = None) -> str:
    """How a figure or a claim names the state at `depth`: by loop and block for a model that
    loops (`layers_per_loop` smaller than its depth), else `resid.{depth}`."""
    return loop_block(depth, layers_per_loop) if layers_per_loop else resid(depth)


def layers_per_loop_of(depth_loops: Iterable[tuple[int, int]]) -> int | None:
    """Block applications per loop from (depth, loop) pairs, such as a lens table's `layer` and
    `iteration` columns (loop 0 is the embeddings); None when no depth lies beyond loop 1, as in a
    model that does not loop, so `label` names its states `resid.{d}`."""
    loop_of = dict(depth_loops)
    if max(loop_of.values(), default=0) <= 1:
        return None
    return sum(1 for loop in loop_of.values() if loop == 1)


def depth_of(site: str, depth: int, layers_per_loop: int | None = None) -> int:
    """The depth a site name denotes in a model of `depth` block applications, `layers_per_loop`
    of them per loop (None: the model does not loop); a ValueError names what is allowed."""
    allowed = f"resid.0..resid.{depth}" + (
        f" or loop1.block1..{loop_block(depth, layers_per_loop)}" if layers_per_loop else ""
    )
    if match := RESID.fullmatch(site):
        found = int(match.group(1))
    elif (match := LOOP_BLOCK.fullmatch(site)) and layers_per_loop:
        loop, block = int(match.group(1)), int(match.group(2))
        if not (loop >= 1 and 1 <= block <= layers_per_loop):
            raise ValueError(f"site {site!r} is not in this model; allowed: {allowed}")
        found = (loop - 1) * layers_per_loop + block
    else:
        raise ValueError(f"site {site!r} is not a site name; allowed: {allowed}")
    if found > depth:
        raise ValueError(f"site {site!r} is deeper than the model's {depth} blocks; allowed: {allowed}")
    return found


def at(site: str, position: str) -> str:
    """A site read at one prompt position."""
    return f"{site}@{position}"
