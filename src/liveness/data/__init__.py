"""Data sets for training and evaluation: streamed samples, video frames, subject-disjoint splits.

- `samples.open_dataset(path)` picks the reader (manifest CSV, NUAA, Replay-Attack, CASIA-FASD, OULU-NPU)
  and yields `Sample` records lazily; `samples.load_media(sample, frames)` reads pixels when asked.
- `video.read_frames` / `video.read_clip`: every k-th or n evenly spaced frames, with timestamps.
- `samples.subject_folds` / `samples.stratified_subject_folds`: no person on both sides of a split.
"""
