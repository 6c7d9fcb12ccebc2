"""Diagnostics that make pre-training perils visible: collapse, contamination, negative transfer,
exact and near copies between labelled sets, and linear probes of frozen representations."""
