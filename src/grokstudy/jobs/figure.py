"""One figure of training curves."""

from __future__ import annotations


def run(args) -> None:
    from grokstudy.figures.draw import draw

    draw(args.kind, args.inputs, args.labels, args.step_axis, args.dpi, args.out_prefix, baselines=args.baselines)
