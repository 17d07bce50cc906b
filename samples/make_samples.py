"""Regenerate the sample media in this folder from scikit-image's astronaut (public domain, NASA).

    python samples/make_samples.py

- astronaut.jpg: the photograph as it is (a bona fide capture of a face).
- astronaut_screen.jpg: a synthetic screen replay of it: the photo shown on a simulated LCD (sub-pixel
  stripes, a moire grating, display gamma, a black bezel) and re-captured slightly blurred.
- astronaut_print_moved.mp4: a synthetic print attack clip: the still photo moved rigidly (shift, small
  in-plane rotation), 24 frames at 12 fps, as if someone waved a printout in front of the camera.
The two synthetic attacks are made here, deterministically, so anyone can check how they were produced.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import skimage.data

HERE = Path(__file__).resolve().parent


def screen_replay(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    shown = cv2.resize(rgb, (w * 3 // 4, h * 3 // 4), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    sh, sw = shown.shape[:2]
    stripes = np.ones((sh, sw, 3), np.float32) * 0.75
    for c in range(3):
        stripes[:, c::3, c] = 1.0  # RGB sub-pixel columns
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    moire = 0.88 + 0.12 * np.cos(2 * np.pi * (0.21 * xx + 0.07 * yy))
    panel = np.clip((shown**0.8) * stripes * moire[..., None] * 1.1, 0, 1)
    out = np.zeros((h, w, 3), np.float32)
    top, left = (h - sh) // 2, (w - sw) // 2
    out[top : top + sh, left : left + sw] = panel
    out = cv2.GaussianBlur(out, (3, 3), 0.8)
    return (out * 255).astype(np.uint8)


def print_moved(rgb: np.ndarray, n: int = 24) -> list[np.ndarray]:
    h, w = rgb.shape[:2]
    frames = []
    for i in range(n):
        t = i / (n - 1)
        angle = 4.0 * np.sin(2 * np.pi * t)
        shift = (12.0 * np.sin(2 * np.pi * t), 6.0 * np.cos(2 * np.pi * t))
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 0.95)
        m[:, 2] += shift
        frames.append(cv2.warpAffine(rgb, m, (w, h), borderMode=cv2.BORDER_CONSTANT, borderValue=(235, 235, 230)))
    return frames


def main() -> None:
    rgb = skimage.data.astronaut()
    cv2.imwrite(str(HERE / "astronaut.jpg"), rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    cv2.imwrite(str(HERE / "astronaut_screen.jpg"), screen_replay(rgb)[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    small = cv2.resize(rgb, (320, 320), interpolation=cv2.INTER_AREA)
    writer = cv2.VideoWriter(str(HERE / "astronaut_print_moved.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 12, (320, 320))
    for frame in print_moved(small):
        writer.write(frame[:, :, ::-1])
    writer.release()


if __name__ == "__main__":
    main()
