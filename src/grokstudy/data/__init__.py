"""Synthetic knowledge graphs for the composition and comparison tasks."""
