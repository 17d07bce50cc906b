"""Data sets for training and evaluation: streamed samples, video frames, subject-disjoint splits."""
