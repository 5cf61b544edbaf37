"""Edges to the outside world, each behind a narrow interface."""
