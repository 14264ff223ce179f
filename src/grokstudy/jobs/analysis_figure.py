"""One analysis's figure for one run."""

from __future__ import annotations


from pathlib import Path


def run(args) -> None:
    from grokstudy.figures.analysis import draw

    inputs = dict(item.split("=", 1) for item in args.inputs)
    draw(args.draw, {name: Path(path) for name, path in inputs.items()}, args.dpi, args.out_prefix)
