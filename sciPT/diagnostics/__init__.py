"""Diagnostics that make pre-training perils visible: collapse, contamination, negative transfer."""
