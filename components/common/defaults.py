"""Defaults shared by the steps, `/v1/predict` and the results files, named once.

Light on purpose (no numpy): the step contracts read them to declare their fields.
"""

from __future__ import annotations

VERDICTS = ("animal", "candidate", "empty")
DEFAULT_MIN_SCORE = 0.3  # a reported box's fused score reaches this
DEFAULT_FRAME_GATE = 0.9  # a frame alone is an animal frame when its best box reaches this
DEFAULT_BURST_GATE = 0.5  # ... or this, when its burst is an animal burst (policy.py)
DEFAULT_BURST_VIEWS = 4  # ... or when this many of its frames reach the burst gate (0: never)
DEFAULT_EQUALIZE_INFRARED = True  # a lone grey (infrared) frame's local contrast equalized (CLAHE)
DEFAULT_PROPOSER = "centernet-mobilenetv3-512-coco"  # COCO detector proposing animals
DEFAULT_PROPOSER_SIDE = 640  # its input's long side, pixels
DEFAULT_TILES = 0  # tiles a side on top of the whole frame (0: the whole frame only)
DEFAULT_API_MIN_SCORE = 0.0  # /v1/predict: every box the policy keeps (the caller filters)
DEFAULT_BURST_GAP = 10.0  # EXIF seconds between two frames of one burst
DEFAULT_LABEL = "animal"  # what the models find, as the exports name it
DEFAULT_MAX_PIXELS = 50_000_000  # an image's pixel cap (decompression bombs)
DEFAULT_REFINE_ROUNDS = 1  # detect: rounds of re-boxing its training images with itself,
# then fine-tuning on them for half its epochs
DEFAULT_REFINE_SCORE = 0.7  # ... keeping its boxes scoring at least this
DEFAULT_TARGET_ROUNDS = 1  # detect --target: rounds of scoring the user's frames with itself,
# then fine-tuning on the ones it calls animal
DEFAULT_LIME_SAMPLES = 100  # LIME's perturbed images per image
