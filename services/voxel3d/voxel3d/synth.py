"""Synthetic landmark tracks: live 3D faces and flat or bent prints and screens, under the same motions.

Why synthetic: the data here has two live people on video and no print video, far too little to train a 3D
classifier. Geometry is what separates the classes, and geometry can be simulated faithfully: a perspective
camera, rigid motions of a head or of a hand-held sheet, and landmark noise like dlib's.

Coordinates: object points in millimetres, x right, y down, z away from the camera; the camera looks down +z.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Points = npt.NDArray[np.float64]

FACE_RMS_RADIUS_MM = 50.0  # RMS distance of the 68 landmarks from their centroid on an adult face
KINDS = ("live", "print", "bent", "screen")
MOUTH = slice(48, 68)
UPPER_LIDS = (37, 38, 43, 44)
LOWER_LIDS = (40, 41, 46, 47)


@dataclass(frozen=True, slots=True)
class SynthSettings:
    """Ranges the generator draws from; the defaults describe a webcam or phone selfie at arm's length."""

    amplitude_deg: tuple[float, float] = (1.0, 30.0)  # peak out-of-plane rotation of the head or sheet
    focal_px: tuple[float, float] = (500.0, 1600.0)
    distance_mm: tuple[float, float] = (300.0, 800.0)
    noise_px: tuple[float, float] = (0.3, 2.0)  # landmark noise, Gaussian, per coordinate
    depth_scale: tuple[float, float] = (0.7, 1.3)  # people differ in how deep their face is
    bend_radius_mm: tuple[float, float] = (60.0, 300.0)


def rotation(yaw: float, pitch: float, roll: float) -> Points:
    """Rotation matrix (3, 3) from angles in radians: yaw about y, then pitch about x, then roll about z."""
    cy, sy = np.cos(yaw), np.sin(yaw)
    cp, sp = np.cos(pitch), np.sin(pitch)
    cr, sr = np.cos(roll), np.sin(roll)
    r_yaw = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
    r_pitch = np.array([[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]])
    r_roll = np.array([[cr, -sr, 0.0], [sr, cr, 0.0], [0.0, 0.0, 1.0]])
    return r_roll @ r_pitch @ r_yaw


def motion_path(rng: np.random.Generator, n_frames: int, amplitude_deg: float) -> Points:
    """Smooth per-frame rotations (F, 3, 3): a random mix of turning, nodding and tilting.

    Yaw, pitch and roll follow sinusoids of random phase and about half to one and a half cycles per clip;
    the largest out-of-plane excursion is close to `amplitude_deg`.
    """
    t = np.linspace(0.0, 1.0, n_frames)
    direction = rng.normal(size=2)
    direction /= np.linalg.norm(direction) + 1e-12
    amp = np.radians(amplitude_deg) * direction
    cycles = rng.uniform(0.4, 1.5, size=3)
    phase = rng.uniform(0, 2 * np.pi, size=3)
    yaw = amp[0] * np.sin(2 * np.pi * cycles[0] * t + phase[0])
    pitch = amp[1] * np.sin(2 * np.pi * cycles[1] * t + phase[1])
    roll = np.radians(rng.uniform(0, 8)) * np.sin(2 * np.pi * cycles[2] * t + phase[2])
    base = rotation(*np.radians(rng.uniform(-10, 10, size=3)))
    return np.stack([rotation(y, p, r) @ base for y, p, r in zip(yaw, pitch, roll, strict=True)])


def project(
    points_mm: Points, rotations: Points, distance_mm: float, focal_px: float, rng: np.random.Generator
) -> Points:
    """Perspective images (F, P, 2) in pixels of object points rotated about their centroid.

    points_mm is (P, 3) for a rigid object or (F, P, 3) when the object deforms over time. The object also
    drifts a little sideways and in depth, as a hand-held object or a head does.
    """
    n = len(rotations)
    pts = np.broadcast_to(points_mm, (n, *points_mm.shape[-2:])) if points_mm.ndim == 2 else points_mm
    drift = rng.normal(scale=[15.0, 10.0, 25.0], size=(1, 3)) * np.linspace(-1, 1, n)[:, None]
    out = np.empty((n, pts.shape[1], 2))
    for i in range(n):
        cam = (pts[i] - pts[i].mean(axis=0)) @ rotations[i].T + np.array([0.0, 0.0, distance_mm]) + drift[i]
        out[i] = focal_px * cam[:, :2] / cam[:, 2:3]
    return out + np.array([320.0, 240.0])


def scaled_face(mean_face: Points, rng: np.random.Generator, settings: SynthSettings) -> Points:
    """A person: the mean face (3, P) in canonical units turned into millimetres (P, 3), with variation.

    Width, height and depth are scaled independently and every landmark is jittered by about 2 mm, so the
    classifier does not learn one exact face.
    """
    face = (mean_face - mean_face.mean(axis=1, keepdims=True)).T.copy()
    rms = float(np.sqrt(np.mean(np.sum(face**2, axis=1))))
    face *= FACE_RMS_RADIUS_MM / rms
    face *= np.array([rng.uniform(0.9, 1.1), rng.uniform(0.9, 1.1), rng.uniform(*settings.depth_scale)])
    return face + rng.normal(scale=2.0, size=face.shape)


def expressions(face_mm: Points, n_frames: int, rng: np.random.Generator) -> Points:
    """The face over time (F, P, 3): the mouth opens and closes and the eyes may blink."""
    out = np.broadcast_to(face_mm, (n_frames, *face_mm.shape)).copy()
    t = np.linspace(0.0, 1.0, n_frames)
    mouth_open_mm = rng.uniform(0.0, 8.0) * np.clip(np.sin(2 * np.pi * rng.uniform(0.5, 2.0) * t), 0, None)
    centre_y = face_mm[MOUTH, 1].mean()
    lower = face_mm[MOUTH, 1] > centre_y
    mouth_idx = np.arange(48, 68)
    out[:, mouth_idx[lower], 1] += mouth_open_mm[:, None]
    if rng.random() < 0.5:
        blink = np.zeros(n_frames)
        blink[rng.integers(0, n_frames)] = 1.0
        for i in UPPER_LIDS:
            out[:, i, 1] += 3.0 * blink
        for i in LOWER_LIDS:
            out[:, i, 1] -= 1.0 * blink
    return out


def printed_landmarks(mean_face: Points, rng: np.random.Generator, settings: SynthSettings) -> Points:
    """Where the 68 landmarks lie on a photo of a face (P, 2) in millimetres on the sheet.

    The photographed person faced the camera give or take 20 degrees; prints range from a little under to a
    little over life size.
    """
    face = scaled_face(mean_face, rng, settings)
    pose = rotation(*np.radians(rng.uniform(-20, 20, size=3) * np.array([1.0, 0.7, 0.5])))
    flat = (face @ pose.T)[:, :2]
    return flat * rng.uniform(0.6, 1.3)


def sheet(flat_mm: Points, kind: str, rng: np.random.Generator, settings: SynthSettings) -> Points:
    """Put 2D sheet coordinates (P, 2) into 3D (P, 3): flat for prints and screens, or bent round a cylinder.

    A bent print curls about its vertical axis (the way a hand holds paper), convex or concave.
    """
    pts = np.c_[flat_mm, np.zeros(len(flat_mm))]
    if kind == "bent":
        radius = rng.uniform(*settings.bend_radius_mm) * rng.choice([-1.0, 1.0])
        x = flat_mm[:, 0] - flat_mm[:, 0].mean()
        pts[:, 0] = radius * np.sin(x / radius) + flat_mm[:, 0].mean()
        pts[:, 2] = radius * (1.0 - np.cos(x / radius))
    return pts


def synth_track(
    kind: str,
    mean_face: Points,
    n_frames: int,
    rng: np.random.Generator,
    settings: SynthSettings = SynthSettings(),
    amplitude_deg: float | None = None,
) -> Points:
    """One clip's landmarks (F, 68, 2) in pixels for `kind` in KINDS.

    live: a 3D face that turns and talks. print: a flat photo moved rigidly. bent: a photo curled round a
    cylinder. screen: a flat display whose picture itself moves in the image plane (a replayed video of a
    person who shifts and rolls but does not turn) while the display is moved.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    amp = rng.uniform(*settings.amplitude_deg) if amplitude_deg is None else amplitude_deg
    rots = motion_path(rng, n_frames, amp)
    distance = rng.uniform(*settings.distance_mm)
    focal = rng.uniform(*settings.focal_px)
    if kind == "live":
        face = scaled_face(mean_face, rng, settings)
        obj = expressions(face, n_frames, rng)
    elif kind == "screen":
        flat = printed_landmarks(mean_face, rng, settings)
        shift = rng.normal(scale=4.0, size=(1, 2)) * np.linspace(-1, 1, n_frames)[:, None]
        roll = np.radians(rng.uniform(-5, 5)) * np.linspace(-1, 1, n_frames)
        zoom = 1.0 + rng.uniform(-0.05, 0.05) * np.linspace(-1, 1, n_frames)
        frames = []
        for i in range(n_frames):
            c, s = np.cos(roll[i]), np.sin(roll[i])
            moved = zoom[i] * flat @ np.array([[c, -s], [s, c]]).T + shift[i]
            frames.append(sheet(moved, "print", rng, settings))
        obj = np.stack(frames)
    else:
        obj = sheet(printed_landmarks(mean_face, rng, settings), kind, rng, settings)
    image = project(obj, rots, distance, focal, rng)
    noise = rng.uniform(*settings.noise_px)
    return image + rng.normal(scale=noise, size=image.shape)
