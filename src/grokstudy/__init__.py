"""Grokked transformers as implicit reasoners: a reproducible study."""

__version__ = "0.1.0"
