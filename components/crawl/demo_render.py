"""Synthetic "photos" for the offline demo: a spotted animal-like shape on natural backgrounds.

Positives show a leopard-like body (ellipse body, head, legs, tail, rosette spots) at a random
place, scale and pose; negatives show the same kinds of backgrounds with unspotted distractors
(blobs, rectangles, stripes). Everything is numpy-vectorised and deterministic from the seed.
"""

from __future__ import annotations

import numpy as np

Box = list[float]  # [x, y, w, h]


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: tuple[int, int]) -> np.ndarray:
    """Bilinearly upsampled random grid in [0, 1] (value noise)."""
    gy, gx = max(2, cells[0]), max(2, cells[1])
    grid = rng.random((gy, gx))
    ys = np.linspace(0, gy - 1, h)
    xs = np.linspace(0, gx - 1, w)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, gy - 1), np.minimum(x0 + 1, gx - 1)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x1] * fx
    bottom = grid[y1][:, x0] * (1 - fx) + grid[y1][:, x1] * fx
    return top * (1 - fy) + bottom * fy


def _fractal(rng: np.random.Generator, h: int, w: int, base: int = 3, octaves: int = 4):
    total, weight, norm = np.zeros((h, w)), 1.0, 0.0
    for octave in range(octaves):
        cells = base * 2**octave
        total += weight * _smooth_noise(rng, h, w, (cells, int(cells * w / h) + 1))
        norm += weight
        weight *= 0.5
    return total / norm


def _mix(a, b, t: np.ndarray) -> np.ndarray:
    return np.asarray(a, float) * (1 - t[..., None]) + np.asarray(b, float) * t[..., None]


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    kind = rng.integers(0, 5)
    yy = np.linspace(0, 1, h)[:, None] * np.ones((1, w))
    if kind == 0:  # sky over ground
        horizon = rng.uniform(0.3, 0.6) + 0.05 * (_smooth_noise(rng, 1, w, (2, 6))[0] - 0.5)
        sky = _mix((110, 160, 225), (200, 220, 245), yy / max(horizon.max(), 1e-3))
        ground_col = rng.choice([(90, 120, 60), (150, 130, 90), (120, 110, 100)])
        ground = _mix(ground_col, np.asarray(ground_col) * 0.6, _fractal(rng, h, w, 4))
        image = np.where((yy > horizon[None, :])[..., None], ground, sky)
    elif kind == 1:  # grass: vertically stretched streaks
        streaks = _smooth_noise(rng, h, w, (4, w // 2))
        image = _mix((40, 90, 30), (140, 180, 70), 0.6 * streaks + 0.4 * _fractal(rng, h, w))
    elif kind == 2:  # rock
        grey = rng.uniform(90, 170)
        tint = np.array([grey, grey * rng.uniform(0.9, 1.0), grey * rng.uniform(0.8, 0.95)])
        image = _mix(tint * 0.5, tint * 1.2, _fractal(rng, h, w, 3, 5))
    elif kind == 3:  # sand / dry savanna
        image = _mix((170, 150, 110), (215, 195, 150), _fractal(rng, h, w, 2, 4))
    else:  # two-colour gradient
        a, b = rng.uniform(30, 230, 3), rng.uniform(30, 230, 3)
        angle = rng.uniform(0, np.pi)
        xx = np.linspace(0, 1, w)[None, :] * np.ones((h, 1))
        t = np.clip(np.cos(angle) * xx + np.sin(angle) * yy, 0, 1)
        image = _mix(a, b, t * 0.8 + 0.2 * _fractal(rng, h, w))
    return image


def _animal_mask(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    a = rng.uniform(0.12, 0.26) * w  # half body length
    b = a * rng.uniform(0.38, 0.5)  # half body height
    cx = rng.uniform(a * 1.5, w - a * 1.5)
    cy = rng.uniform(b * 1.2, h - b * 2.4)
    theta = rng.uniform(-0.35, 0.35)
    facing = 1 if rng.random() < 0.5 else -1
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    dx, dy = xx - cx, yy - cy
    u = (dx * np.cos(theta) + dy * np.sin(theta)) * facing  # along the body, + = head side
    v = -dx * np.sin(theta) + dy * np.cos(theta)  # across the body, + = down
    body = (u / a) ** 2 + (v / b) ** 2 <= 1
    hr = b * rng.uniform(0.55, 0.7)
    head = (u - a * 1.05) ** 2 + (v + b * 0.45) ** 2 <= hr**2
    ears = (u - a * 1.0) ** 2 + (v + b * 0.45 + hr) ** 2 <= (hr * 0.35) ** 2
    legs = np.zeros_like(body)
    leg_len, leg_w = b * rng.uniform(1.1, 1.5), b * 0.28
    for position in (-0.7, -0.45, 0.45, 0.7):
        swing = rng.uniform(-0.3, 0.3) * (v / leg_len)
        legs |= (
            (np.abs(u - a * position - swing * leg_w * 2) < leg_w / 2)
            & (v > 0)
            & (v < b * 0.6 + leg_len)
        )
    curl = rng.uniform(-0.6, 0.6)
    t = np.clip((-u - a * 0.9) / (a * 0.9), 0, 1)
    tail_centre = -b * 0.3 + curl * b * t**2 * 2
    tail = (-u > a * 0.85) & (-u < a * 1.8) & (np.abs(v - tail_centre) < b * 0.12)
    return body | head | ears | legs | tail


def _rosettes(rng: np.random.Generator, h: int, w: int, spacing: float) -> np.ndarray:
    """Darkness in [0, 1]: rings (rosettes) and solid spots on a jittered grid."""
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    gy, gx = int(h / spacing) + 2, int(w / spacing) + 2
    centres = (np.stack(np.mgrid[0:gy, 0:gx], -1) + rng.uniform(0.2, 0.8, (gy, gx, 2))) * spacing
    radii = spacing * rng.uniform(0.22, 0.36, (gy, gx))
    ring = rng.random((gy, gx)) < 0.7
    cell_y, cell_x = (yy / spacing).astype(int), (xx / spacing).astype(int)
    best = np.full((h, w), np.inf)
    best_r = np.ones((h, w))
    best_ring = np.zeros((h, w), bool)
    for oy in (-1, 0, 1):
        for ox in (-1, 0, 1):
            cy, cx = np.clip(cell_y + oy, 0, gy - 1), np.clip(cell_x + ox, 0, gx - 1)
            c = centres[cy, cx]
            d = np.hypot(yy - c[..., 0], xx - c[..., 1])
            closer = d < best
            best = np.where(closer, d, best)
            best_r = np.where(closer, radii[cy, cx], best_r)
            best_ring = np.where(closer, ring[cy, cx], best_ring)
    rel = best / best_r
    solid = rel < 1
    ring_dark = (rel > 0.55) & (rel < 1.05)
    return np.where(best_ring, ring_dark, solid).astype(float)


def _distractor(rng: np.random.Generator, image: np.ndarray) -> None:
    h, w, _ = image.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    colour = rng.uniform(20, 235, 3)
    kind = rng.integers(0, 3)
    if kind == 0:  # unspotted blob
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        a, b = rng.uniform(0.08, 0.3) * w, rng.uniform(0.06, 0.2) * h
        mask = ((xx - cx) / a) ** 2 + ((yy - cy) / b) ** 2 <= 1
    elif kind == 1:  # rectangle
        x0, y0 = rng.uniform(0, w * 0.8), rng.uniform(0, h * 0.8)
        mask = (xx >= x0) & (xx < x0 + rng.uniform(0.1, 0.4) * w)
        mask &= (yy >= y0) & (yy < y0 + rng.uniform(0.1, 0.4) * h)
    else:  # stripes over a region
        period, angle = rng.uniform(6, 18), rng.uniform(0, np.pi)
        x0, y0 = rng.uniform(0, w * 0.6), rng.uniform(0, h * 0.6)
        region = (xx >= x0) & (xx < x0 + w * 0.4) & (yy >= y0) & (yy < y0 + h * 0.4)
        phase = (np.cos(angle) * xx + np.sin(angle) * yy) / period
        mask = region & ((phase % 1.0) < 0.5)
    shade = 0.85 + 0.3 * _smooth_noise(rng, h, w, (3, 4))
    image[mask] = (colour * shade[..., None])[mask]


def render(positive: bool, seed: int, width: int = 256, height: int = 192):
    """An HxWx3 uint8 image and, for positives, the true box ``[x, y, w, h]`` (else None)."""
    rng = np.random.default_rng(seed)
    h, w = int(height), int(width)
    image = _background(rng, h, w)
    for _ in range(rng.integers(0 if positive else 1, 2 if positive else 4)):
        _distractor(rng, image)
    box: Box | None = None
    if positive:
        mask = _animal_mask(rng, h, w)
        ys, xs = np.nonzero(mask)
        box = [
            float(xs.min()),
            float(ys.min()),
            float(xs.max() - xs.min() + 1),
            float(ys.max() - ys.min() + 1),
        ]
        x0, y0 = int(box[0]), int(box[1])
        x1, y1 = x0 + int(box[2]), y0 + int(box[3])
        ch, cw = y1 - y0, x1 - x0
        fur = _mix((185, 140, 70), (230, 195, 130), _fractal(rng, ch, cw, 4, 3))
        fur *= (1.1 - 0.25 * np.arange(ch)[:, None] / max(ch, 1))[..., None]
        dark = _rosettes(rng, ch, cw, max(5.0, cw / rng.uniform(9, 14)))[..., None]
        fur = fur * (1 - 0.8 * dark) + np.array([25, 18, 10]) * 0.8 * dark
        crop_mask = mask[y0:y1, x0:x1]
        image[y0:y1, x0:x1][crop_mask] = fur[crop_mask]
    image += rng.normal(0, 6, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), box
