"""Measurements: quality metrics, timers and memory accounting."""
