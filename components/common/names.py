"""Names shared by several steps, written once: registered models, aliases, providers."""

from __future__ import annotations

from typing import Literal, get_args

CLASSIFIER_MODEL = "nolabel-classifier"  # registered name of the thing-vs-rest classifier
DETECTOR_MODEL = "nolabel-detector"  # registered name of the Faster R-CNN detector

CANDIDATE = "candidate"  # alias of a newly trained model
PRODUCTION = "production"  # alias of the model serving and scoring use

ProviderName = Literal["demo", "folder", "openverse", "wikimedia", "inaturalist", "bing"]
PROVIDERS: tuple[str, ...] = get_args(ProviderName)
OFFLINE_PROVIDERS = ("folder", "demo")  # no network: their search results are not cached
