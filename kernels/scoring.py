"""From metrics to a verdict: the sampling and blur limits combined per module axis (docs/model.md, rule 8), the
margins of every factor, the limiting factor and the score."""

from __future__ import annotations

import math

import warp as wp

from swb.engine.profiles import FACTOR_CODE, FACTORS, LIMIT_NORM_P, READ_ANCHOR, SCORE_RATE

from .camera import Camera

wp.set_module_options({"enable_backward": False})

vec9 = wp.types.vector(length=len(FACTORS), dtype=wp.float32)

# Limiting-factor codes (0 = decodes) and their margin slots (code - 1), from swb.engine.profiles.
FOV = wp.constant(FACTOR_CODE["fov"])
OCCLUDED = wp.constant(FACTOR_CODE["occluded"])
BACKFACING = wp.constant(FACTOR_CODE["backfacing"])
RESOLUTION = wp.constant(FACTOR_CODE["resolution"])
DEFOCUS = wp.constant(FACTOR_CODE["defocus"])
MOTION = wp.constant(FACTOR_CODE["motion"])
ANGLE = wp.constant(FACTOR_CODE["angle"])
GLARE = wp.constant(FACTOR_CODE["glare"])
EXPOSURE = wp.constant(FACTOR_CODE["exposure"])

NORM_P = wp.constant(float(LIMIT_NORM_P))
RATE = wp.constant(float(SCORE_RATE))
READ_ANCHOR_LOGIT = wp.constant(float(math.log(READ_ANCHOR / (1.0 - READ_ANCHOR))))


@wp.struct
class PairResult:
    """Everything one camera x target evaluation yields (fields as in swb.engine.pair_results.PairResults)."""

    decodable: int
    limiting: int
    score: float
    p_read: float  # probability that one frame decodes (0 outside the view, facing away or hidden)
    ppm_u: float
    ppm_w: float
    tilt_deg: float
    defocus_px: float
    motion_px: float
    visible_fraction: float
    distance: float
    combined_margin: float
    margins: vec9
    rays: int  # occlusion rays cast for this pair


@wp.func
def limit_terms(threshold: float, blur_limit: float, ppm: float, blur: float, smear: float) -> wp.vec2:
    """(r_s, r_b) on one module axis: r_s = T / PPM, r_b = sqrt(b^2 + m^2) / PPM / B (both inf at PPM 0)."""
    if ppm <= 0.0:
        return wp.vec2(wp.inf, wp.inf)
    return wp.vec2(threshold / ppm, wp.sqrt(blur * blur + smear * smear) / ppm / blur_limit)


@wp.func
def limit_norm(r: wp.vec2) -> float:
    """(r_s^p + r_b^p)^(1/p), scaled by the larger term so neither overflows nor underflows in float32."""
    big = wp.max(r[0], r[1])
    if big <= 0.0:
        return 0.0
    if wp.isinf(big):
        return wp.inf
    return big * wp.pow(wp.pow(r[0] / big, NORM_P) + wp.pow(r[1] / big, NORM_P), 1.0 / NORM_P)


@wp.func
def ratio_or_inf(num: float, den: float) -> float:
    if den <= 0.0:
        return wp.inf
    return num / den


@wp.func
def read_probability(cam: Camera, cls: int, margin: float) -> float:
    """One frame's read probability at the decisive margin: the profile's logistic link in ln(margin)
    (swb.engine.profiles.read_probability)."""
    if margin <= 0.0:
        return 0.0
    if wp.isinf(margin):
        return 1.0
    z = READ_ANCHOR_LOGIT + cam.read_slope[cls] * (wp.log(margin) - cam.read_ln_m90[cls])
    return 1.0 / (1.0 + wp.exp(-z))


@wp.func
def score_of(margin: float) -> float:
    """0 at the limit, rising smoothly towards 1 as the margin grows."""
    return 1.0 - wp.exp(-RATE * (margin - 1.0))
