"""Training augmentation on cached context crops: geometry, colour, blur, JPEG, noise, synthetic attacks.

Everything runs on the CONTEXT_SIZE context crop before the scales are cut, so an artefact covers every scale
the way a real screen or print covers the whole scene. Synthetic attacks turn a live face into a spoof:
moire interference, a screen look (compressed contrast, colour cast, pixel grid, glare) and a dark bezel
around the face, the cues of a phone replay that NUAA's prints do not show (15 % of live faces in the
recipe, see AugmentSettings.synthetic_attack). A frame cut ends the frame near the face for live
and spoof faces alike, so that a crop running past the frame carries no label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from cnn2d.model import PAD
from liveness.types import Box, RGBImage
from liveness.vision.face import PADDING, crops

ATTACK_CUES: tuple[float, float, float] = (0.7, 0.6, 0.4)
"""Odds of moire, screen look and bezel in a synthetic replay (the recipe's and `synthetic_attack`'s)."""


@dataclass(frozen=True, slots=True)
class AugmentSettings:
    """Probabilities and ranges; the defaults are the committed recipe."""

    shift: float = 0.06  # box centre jitter, fraction of the box side
    zoom: float = 0.08  # box size jitter, +- fraction
    flip: float = 0.5
    colour: float = 0.8
    blur: float = 0.25
    jpeg: float = 0.4
    noise: float = 0.25
    synthetic_attack: float = 0.15
    """Fraction of live faces turned into a synthetic replay (label spoof). Since 1.2.0, with frame_cut: alone
    (1.0.0 and before) the model learnt "low contrast / soft = spoof" from them and rejected a dim, soft live
    NUAA subject (0004: 24 % of its live faces at 0.15, 2 % at 0); with frame_cut the 3-network ensemble
    rejects 1.8 % of them (HISTORY.md, "Frame cut with synthetic replays")."""
    attack_cues: tuple[float, float, float] = ATTACK_CUES
    """Odds of moire, screen look and bezel in a synthetic replay. The bezel darkens the surround to 0-25 %
    of its brightness, next to frame_cut's black beyond a frame's end that carries no label; without it,
    held-out replay-dev and NUAA fold 3 both did worse (HISTORY.md, "Frame cut with synthetic replays")."""
    saturation: tuple[float, float] = (0.6, 1.4)
    contrast: tuple[float, float] = (0.7, 1.3)
    brightness: float = 0.12  # +- shift on [0, 1]
    gamma: tuple[float, float] = (0.75, 1.35)
    white_balance: float = 0.1  # +- gain per channel
    blur_sigma: tuple[float, float] = (0.4, 1.6)
    counter_cast: float = 0.0
    """Probability of a colour cast against NUAA's label confound: a print is warmed (red gain up, blue gain
    down), a live face cooled, by up to `cast_strength`. NUAA's session-01 prints are bluer than the live
    faces for every subject but 0008, whose warm prints a colour-trusting model accepts. Off in the recipe:
    it cost more than it gained (HISTORY.md, "Counter-cast"). Each of these options draws its random number
    even when off, so a seed augments alike whatever they are set to."""
    cast_strength: float = 0.3
    grey: float = 0.0
    """Probability of dropping colour (grey RGB), so texture cues are learnt beside colour ones (off in the
    recipe, see counter_cast)."""
    frame_cut: float = 0.8
    """Probability of a frame edge near the face: beyond a random line on one or more sides of the box the
    context is filled as a crop is filled beyond the frame (`cnn2d.model.PAD`), as where a close-up's crops
    run past the frame. Live and spoof alike, so the frame's end carries no label: replay-dev's close-up live
    selfies reach it (tranvanluyt: 12 % of the 1.5 crop, on 98 % of faces) while its screen replays and
    NUAA's faces do not, and a model learns "frame end = live" from that. On since 1.2.0, together with
    synthetic replays (HISTORY.md, "Frame edges" and "Frame cut with synthetic replays"). Draws random
    numbers only when on."""
    frame_cut_range: tuple[float, float] = (0.35, 0.75)  # edge distance from the box centre, in box sides


def jitter_box(box: Box, rng: np.random.Generator, shift: float, zoom: float) -> Box:
    side = max(box.width, box.height)
    dx, dy = rng.uniform(-shift, shift, size=2) * side
    k = 1.0 + rng.uniform(-zoom, zoom)
    cx, cy = box.center
    hw, hh = box.width * k / 2.0, box.height * k / 2.0
    return Box(cx + dx - hw, cy + dy - hh, cx + dx + hw, cy + dy + hh)


def _lut(x: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
    return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _apply_channel_luts(image: RGBImage, luts: Sequence[npt.NDArray[np.uint8]]) -> RGBImage:
    return cast(
        RGBImage, cv2.merge([cv2.LUT(np.ascontiguousarray(image[:, :, c]), luts[c]) for c in range(3)])
    )


def colour(
    image: RGBImage, rng: np.random.Generator, settings: AugmentSettings = AugmentSettings()
) -> RGBImage:
    """Saturation, then contrast, brightness, white balance and gamma through one lookup table per channel.

    Lookup tables keep this about 0.1 ms per face; float maths on every pixel made augmentation, not the
    network, the slowest part of a training step on two cores.
    """
    grey = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    sat = rng.uniform(*settings.saturation)
    image = cast(RGBImage, cv2.addWeighted(image, sat, grey, 1.0 - sat, 0.0))
    v = np.arange(256, dtype=np.float32) / 255.0
    contrast = rng.uniform(*settings.contrast)
    brightness = rng.uniform(-settings.brightness, settings.brightness)
    gamma = rng.uniform(*settings.gamma)
    balance = rng.uniform(1.0 - settings.white_balance, 1.0 + settings.white_balance, size=3)
    base = (v - 0.5) * contrast + 0.5 + brightness
    luts = [_lut(np.clip(base * balance[c], 0.0, 1.0) ** gamma) for c in range(3)]
    return _apply_channel_luts(image, luts)


def warm_shift(image: RGBImage, warm: float) -> RGBImage:
    """Colour-temperature shift: red gain 1 + warm, blue gain 1 - warm (warm < 0 cools)."""
    v = np.arange(256, dtype=np.float32) / 255.0
    return _apply_channel_luts(image, [_lut(v * (1.0 + warm)), _lut(v), _lut(v * (1.0 - warm))])


def grey(image: RGBImage) -> RGBImage:
    return cast(RGBImage, cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB))


def blur(image: RGBImage, rng: np.random.Generator, sigma: tuple[float, float] = (0.4, 1.6)) -> RGBImage:
    return cast(RGBImage, cv2.GaussianBlur(image, (0, 0), sigmaX=rng.uniform(*sigma)))


def jpeg(image: RGBImage, rng: np.random.Generator) -> RGBImage:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 95))])
    return cast(RGBImage, cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)) if ok else image


def noise(image: RGBImage, rng: np.random.Generator) -> RGBImage:
    gauss = np.empty(image.shape, np.float32)
    cv2.setRNGSeed(int(rng.integers(0, 2**31 - 1)))
    cv2.randn(gauss, 0.0, rng.uniform(2.0, 8.0))  # type: ignore[call-overload]  # scalars are valid
    return cast(RGBImage, cv2.add(image, gauss, dtype=cv2.CV_8U))


def _grating(h: int, w: int, rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """sin(2 pi (x cos a + y sin a) / period + phase), built from 1-D factors (sin(u + v) expansion)."""
    angle, period_px, phase = rng.uniform(0, np.pi), rng.uniform(2.5, 12.0), rng.uniform(0, 2 * np.pi)
    u = (2 * np.pi * np.arange(w) * np.cos(angle) / period_px).astype(np.float32)
    v = (2 * np.pi * np.arange(h) * np.sin(angle) / period_px + phase).astype(np.float32)
    return np.outer(np.cos(v), np.sin(u)) + np.outer(np.sin(v), np.cos(u))


def moire(image: RGBImage, rng: np.random.Generator) -> RGBImage:
    """Multiply by one or two interfering sinusoidal gratings (camera grid vs screen grid aliasing)."""
    h, w = image.shape[:2]
    pattern = np.ones((h, w), np.float32)
    for _ in range(int(rng.integers(1, 3))):
        pattern *= 1.0 + rng.uniform(0.04, 0.15) * _grating(h, w, rng)
    gains = [pattern, pattern, pattern]
    if rng.random() < 0.5:  # colour fringes: the grating shifts per channel
        gains[2] = np.roll(pattern, int(rng.integers(1, 3)), axis=1)
    return cast(RGBImage, cv2.multiply(image, cv2.merge(gains), dtype=cv2.CV_8U))


def screen(image: RGBImage, rng: np.random.Generator) -> RGBImage:
    """A screen's look: compressed contrast, raised black level, a cool cast, pixel grid and a glare blob."""
    v = np.arange(256, dtype=np.float32) / 255.0
    gain, lift = rng.uniform(0.6, 0.9), rng.uniform(0.05, 0.2)
    tint = (rng.uniform(0.85, 1.0), rng.uniform(0.9, 1.05), rng.uniform(1.0, 1.2))
    out = _apply_channel_luts(image, [_lut((v * gain + lift) * tint[c]) for c in range(3)])
    h, w = image.shape[:2]
    gain_map = np.ones((h, w), np.float32)
    if rng.random() < 0.5:
        pitch = int(rng.integers(2, 4))
        gain_map[::pitch, :] *= 1.0 - rng.uniform(0.05, 0.2)
        gain_map[:, ::pitch] *= 1.0 - rng.uniform(0.05, 0.2)
    glare = None
    if rng.random() < 0.5:
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0.15, 0.5) * w
        gy = np.exp(-((np.arange(h) - cy) ** 2) / (2 * r * r)).astype(np.float32)
        gx = np.exp(-((np.arange(w) - cx) ** 2) / (2 * r * r)).astype(np.float32)
        glare = (rng.uniform(0.1, 0.4) * 255.0 * np.outer(gy, gx)).astype(np.float32)
    out = cast(RGBImage, cv2.multiply(out, cv2.merge([gain_map] * 3), dtype=cv2.CV_8U))
    if glare is not None:
        out = cast(RGBImage, cv2.add(out, cv2.merge([glare] * 3), dtype=cv2.CV_8U))
    return out


def bezel(image: RGBImage, box: Box, rng: np.random.Generator) -> RGBImage:
    """Everything outside a phone-shaped rectangle around the face goes dark (screen edge and bezel)."""
    h, w = image.shape[:2]
    side = max(box.width, box.height)
    cx, cy = box.center
    half_w = side * rng.uniform(0.6, 0.85)
    half_h = side * rng.uniform(0.7, 1.1)
    x0, x1 = int(max(0, cx - half_w)), int(min(w, cx + half_w))
    y0, y1 = int(max(0, cy - half_h)), int(min(h, cy + half_h))
    out = (image.astype(np.float32) * rng.uniform(0.0, 0.25)).astype(np.uint8)
    out[y0:y1, x0:x1] = image[y0:y1, x0:x1]
    return out


def synthetic_attack(
    image: RGBImage,
    box: Box,
    rng: np.random.Generator,
    cue_odds: tuple[float, float, float] = ATTACK_CUES,
) -> RGBImage:
    """A live face made to look replayed on a screen; at least one cue, usually several.

    `cue_odds`: probabilities of moire, screen look and bezel; when none is drawn, one of those with a
    non-zero probability is applied.
    """
    out = image
    odds = np.asarray(cue_odds, dtype=float)
    if not (odds > 0).any():
        raise ValueError(f"synthetic_attack needs at least one cue with non-zero odds, got {cue_odds}")
    cues = rng.random(3) < odds
    if not cues.any():
        allowed = np.flatnonzero(odds > 0)
        cues[allowed[int(rng.integers(0, len(allowed)))]] = True
    if cues[1]:
        out = screen(out, rng)
    if cues[0]:
        out = moire(out, rng)
    if cues[2]:
        out = bezel(out, box, rng)
    return out


def augment_face(
    context: RGBImage,
    box: Box,
    live: bool,
    rng: np.random.Generator,
    scales: Sequence[float],
    size: int,
    settings: AugmentSettings = AugmentSettings(),
) -> tuple[npt.NDArray[np.uint8], bool]:
    """One augmented network input (n_scales, size, size, 3) and its (possibly flipped to spoof) label."""
    image = context
    if rng.random() < settings.flip:
        image = np.ascontiguousarray(image[:, ::-1])
        w = image.shape[1]
        box = Box(w - box.right, box.top, w - box.left, box.bottom)
    if live and rng.random() < settings.synthetic_attack:
        image = synthetic_attack(image, box, rng, settings.attack_cues)
        live = False
    if rng.random() < settings.counter_cast:
        strength = rng.uniform(0.0, settings.cast_strength)
        image = warm_shift(image, -strength if live else strength)
    if rng.random() < settings.colour:
        image = colour(image, rng, settings)
    if rng.random() < settings.grey:
        image = grey(image)
    if rng.random() < settings.blur:
        image = blur(image, rng, settings.blur_sigma)
    if rng.random() < settings.noise:
        image = noise(image, rng)
    if rng.random() < settings.jpeg:
        image = jpeg(image, rng)
    jittered = jitter_box(box, rng, settings.shift, settings.zoom)
    if settings.frame_cut > 0 and rng.random() < settings.frame_cut:
        image = frame_cut(image, box, rng, settings.frame_cut_range)
    return np.stack(crops(image, jittered, scales, size, PAD)), live


def frame_cut(image: RGBImage, box: Box, rng: np.random.Generator, reach: tuple[float, float]) -> RGBImage:
    """The frame ends `reach` box sides from the box centre, on each side with odds 1/2 (at least one side):
    beyond it the context is filled as `liveness.vision.face.crop` fills what lies outside a frame (PAD)."""
    sides = rng.random(4) < 0.5
    if not sides.any():
        sides[int(rng.integers(0, 4))] = True
    dist = rng.uniform(*reach, size=4) * max(box.width, box.height)
    cx, cy = box.center
    h, w = image.shape[:2]
    left = max(0, round(cx - dist[0])) if sides[0] else 0
    top = max(0, round(cy - dist[1])) if sides[1] else 0
    right = min(w, round(cx + dist[2])) if sides[2] else w
    bottom = min(h, round(cy + dist[3])) if sides[3] else h
    kept = image[top:bottom, left:right]
    return cast(
        RGBImage,
        cv2.copyMakeBorder(kept, top, h - bottom, left, w - right, PADDING[PAD], value=(0, 0, 0)),
    )
