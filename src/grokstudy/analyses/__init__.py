"""Analyses of saved checkpoints: one module each, listed in `registry`, run by `runner`."""
