"""Temporal liveness test: frame sequences, blinks, motion, expression challenge and identity."""
