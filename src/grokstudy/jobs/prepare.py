"""Generate one dataset and write it with its manifest."""

from __future__ import annotations


def run(args) -> None:
    from grokstudy.data import store

    dataset = store.generate(args.params)
    store.write(dataset, args.params, args.out)
    print(f"{args.out}: {dataset.counts} phi achieved {dataset.phi_achieved:.4f}")
