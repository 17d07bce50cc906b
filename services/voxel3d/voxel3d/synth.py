"""Synthetic landmark tracks: live 3D faces and flat or bent prints and screens, under the same motions.

Why synthetic: the data here has two live people on video and no print video, far too little to train a 3D
classifier. Geometry is what separates the classes, and geometry can be simulated faithfully: a perspective
camera, rigid motions of a head or of a hand-held sheet, and landmark noise like dlib's.

Coordinates: object points in millimetres, x right, y down, z away from the camera; the camera looks down +z.

Two generator modes (`SynthSettings.for_mode`): "plain", the first version (independent Gaussian landmark
noise, rigid objects), and "realistic", which adds what real dlib tracks showed and the plain simulator
missed: landmark noise correlated over time and shared by neighbouring points (a detector error drifts
slowly and moves a whole feature), jaw-contour landmarks that slide along the face as the head turns (they
mark the silhouette, not fixed points of the skin), and paper that flexes while a hand holds it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Points = npt.NDArray[np.float64]

FACE_RMS_RADIUS_MM = 50.0  # RMS distance of the 68 landmarks from their centroid on an adult face
KINDS = ("live", "print", "bent", "screen")
MODES = ("plain", "realistic")
GENERATOR_VERSION = 2  # bump when the same seed and settings would give other tracks (caches key on it)
JAW = np.arange(0, 17)
LANDMARK_GROUPS = (range(0, 17), range(17, 27), range(27, 36), range(36, 48), range(48, 68))
"""dlib 68-point features (jaw, brows, nose, eyes, mouth): a detector error tends to move a whole feature."""
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
    # "realistic" mode; the zero defaults are the plain generator.
    noise_ar: tuple[float, float] = (0.0, 0.0)  # AR(1) coefficient of the landmark noise from frame to frame
    noise_shared: float = 0.0  # share of the noise variance common to a landmark group (LANDMARK_GROUPS)
    jaw_slide: tuple[float, float] = (
        0.0,
        0.0,
    )  # how much of the head rotation the jaw contour does NOT follow
    flex_per_mm: tuple[float, float] = (0.0, 0.0)  # amplitude of the paper's changing curvature (1 / radius)

    @classmethod
    def for_mode(cls, mode: str) -> SynthSettings:
        """The settings of a generator mode in MODES."""
        if mode == "plain":
            return cls()
        if mode == "realistic":
            return cls(
                noise_ar=(0.3, 0.9), noise_shared=0.5, jaw_slide=(0.2, 0.7), flex_per_mm=(0.0, 1 / 150)
            )
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


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


def _rotation_vector(r: Points) -> Points:
    """Axis times angle (3,) of a rotation matrix (3, 3) (Rodrigues; angles below 180 degrees)."""
    angle = float(np.arccos(np.clip((np.trace(r) - 1.0) / 2.0, -1.0, 1.0)))
    if angle < 1e-9:
        return np.zeros(3)
    axis = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]]) / (2.0 * np.sin(angle))
    return axis * angle


def _rotation_from_vector(v: Points) -> Points:
    """Rotation matrix (3, 3) of an axis-times-angle vector (3,)."""
    angle = float(np.linalg.norm(v))
    if angle < 1e-12:
        return np.eye(3)
    k = v / angle
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + np.sin(angle) * kx + (1.0 - np.cos(angle)) * kx @ kx


def slide_jaw(face_t: Points, rotations: Points, fraction: float) -> Points:
    """Jaw-contour landmarks (F, P, 3) that follow only part of the head's rotation away from the mean pose.

    dlib's jaw points mark the face's silhouette; as the head turns, the silhouette stays roughly where the
    camera sees the side of the head, so those points slide over the skin instead of moving with it. Turning
    them back by `fraction` of each frame's rotation (relative to the clip's mean pose, about the head's
    centroid) gives that sliding.
    """
    out = face_t.copy()
    mean_pose = rotations.mean(axis=0)
    u, _, vt = np.linalg.svd(mean_pose)
    mean_pose = u @ vt
    for i, r in enumerate(rotations):
        back = _rotation_from_vector(-fraction * _rotation_vector(r @ mean_pose.T))
        # Undo part of the rotation in the camera frame: R' = back @ R, expressed in object coordinates.
        local = r.T @ back @ r
        centre = out[i].mean(axis=0)
        out[i, JAW] = (out[i, JAW] - centre) @ local.T + centre
    return out


def flexing_sheet(
    flat_mm: Points, kind: str, n_frames: int, rng: np.random.Generator, settings: SynthSettings
) -> Points:
    """Sheet points over time (F, P, 3) for a hand-held print: its curvature about a vertical axis changes.

    A flat print gains and loses a slight bend, a bent print breathes around its curvature; the bend axis is
    tilted a little, as fingers do not hold paper square.
    """
    t = np.linspace(0.0, 1.0, n_frames)
    base = 0.0
    if kind == "bent":
        base = rng.choice([-1.0, 1.0]) / rng.uniform(*settings.bend_radius_mm)
    amp = rng.uniform(*settings.flex_per_mm)
    curvature = base + amp * np.sin(2 * np.pi * rng.uniform(0.3, 1.5) * t + rng.uniform(0, 2 * np.pi))
    tilt = np.radians(rng.uniform(-20, 20))
    c, s = np.cos(tilt), np.sin(tilt)
    centre = flat_mm.mean(axis=0)
    local = (flat_mm - centre) @ np.array([[c, -s], [s, c]])  # x along the bend, y along the axis
    out = np.empty((n_frames, len(flat_mm), 3))
    for i, k in enumerate(curvature):
        x = local[:, 0]
        if abs(k) < 1e-9:
            bx, bz = x, np.zeros_like(x)
        else:
            bx, bz = np.sin(x * k) / k, (1.0 - np.cos(x * k)) / k
        xy = np.c_[bx, local[:, 1]] @ np.array([[c, s], [-s, c]]) + centre
        out[i] = np.c_[xy, bz]
    return out


def landmark_noise(
    shape: tuple[int, ...], sigma_px: float, rng: np.random.Generator, settings: SynthSettings
) -> Points:
    """Landmark noise (F, P, 2) in pixels of standard deviation sigma_px: independent in plain mode; in
    realistic mode AR(1) over frames and partly shared by each landmark group."""
    n_frames, n_points = shape[0], shape[1]
    if settings.noise_ar == (0.0, 0.0) and settings.noise_shared == 0.0:
        return rng.normal(scale=sigma_px, size=shape)
    rho = rng.uniform(*settings.noise_ar)
    own = rng.normal(size=(n_frames, n_points, 2))
    shared = np.zeros_like(own)
    for group in LANDMARK_GROUPS:
        shared[:, list(group)] = rng.normal(size=(n_frames, 1, 2))
    w = np.sqrt(settings.noise_shared) * shared + np.sqrt(1.0 - settings.noise_shared) * own
    out = np.empty_like(w)
    out[0] = w[0]
    for i in range(1, n_frames):
        out[i] = rho * out[i - 1] + np.sqrt(1.0 - rho**2) * w[i]
    return sigma_px * out


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
        if settings.jaw_slide != (0.0, 0.0):
            obj = slide_jaw(obj, rots, rng.uniform(*settings.jaw_slide))
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
    elif settings.flex_per_mm != (0.0, 0.0):
        obj = flexing_sheet(printed_landmarks(mean_face, rng, settings), kind, n_frames, rng, settings)
    else:
        obj = sheet(printed_landmarks(mean_face, rng, settings), kind, rng, settings)
    image = project(obj, rots, distance, focal, rng)
    noise = rng.uniform(*settings.noise_px)
    return image + landmark_noise(image.shape, noise, rng, settings)
