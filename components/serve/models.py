"""Which models the service uses: URI resolution, loading, alias polling and atomic hot swap.

Each request takes one :class:`ModelSet` snapshot and uses it to the end, so a swap never changes
a model under a request that is already running; the old model is dropped once nobody holds it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from nolabel.components.common import tracking
from nolabel.components.common.settings import Settings
from nolabel.components.serve.settings import ServeSettings
from nolabel.components.transfer.classifier import load_classifier

log = logging.getLogger("nolabel.serve.models")

CLASSIFIER, DETECTOR, PROPOSER = "classifier", "detector", "proposer"


class Classifier(Protocol):
    """What serve needs from ``nolabel.components.transfer.classifier.ImageClassifier``."""

    threshold: float

    def predict_proba(self, images: list[np.ndarray]) -> np.ndarray: ...


class Detector(Protocol):
    """What serve needs from ``nolabel.components.detect.predictor.Detector``."""

    def predict(self, images: list[np.ndarray]) -> list[dict[str, np.ndarray]]: ...


Loader = Callable[[str], Any]


def default_loaders(
    classifier_threads: int | None = None,
    detector_threads: int | None = None,
    serve_settings: ServeSettings | None = None,
) -> dict[str, Loader]:
    """The real loaders of the transfer, detect and proposals steps (imported lazily).

    Both models' ONNX Runtime sessions use non-spinning threads (default: every core), so a
    lone request gets all cores and parallel requests do not fight. The detector's torch part
    (box heads) keeps one thread: oversubscribed OpenMP threads made it 8x slower on 2 cores.
    """
    cores = os.cpu_count() or 1

    def classifier_loader(uri: str) -> Any:
        return load_classifier(uri, threads=classifier_threads or cores)

    def detector_loader(uri: str) -> Any:
        import torch

        from nolabel.components.detect.predictor import load_detector

        torch.set_num_threads(1)
        detector = load_detector(uri, threads=detector_threads or cores)
        detector.warm_up()
        return detector

    def proposer_loader(uri: str) -> Any:
        from nolabel.components.proposals.proposer import AnimalProposer

        options = serve_settings or ServeSettings()
        return AnimalProposer(
            options.proposer, input_side=options.proposer_side, tiles=options.tiles,
            threads=detector_threads or cores, path=uri,
        )  # fmt: skip

    return {CLASSIFIER: classifier_loader, DETECTOR: detector_loader, PROPOSER: proposer_loader}


@dataclass(frozen=True)
class LoadedModel:
    """One loaded model and where it came from."""

    kind: str
    model: Any
    name: str
    version: str
    uri: str
    loaded_at: float

    def describe(self) -> dict[str, Any]:
        """JSON-friendly description (no model object)."""
        return {"kind": self.kind, "name": self.name, "version": self.version, "uri": self.uri}


@dataclass(frozen=True)
class ModelSet:
    """An immutable snapshot of the models in service."""

    classifier: LoadedModel | None = None
    detector: LoadedModel | None = None
    proposer: LoadedModel | None = None

    def get(self, kind: str) -> LoadedModel | None:
        return getattr(self, kind, None)


@dataclass(frozen=True)
class Target:
    """A resolved model: the URI to load and the identity it will be reported under."""

    uri: str
    name: str
    version: str


@dataclass
class KindState:
    """Book-keeping for one kind of model."""

    last_error: str | None = None
    last_checked: float | None = None
    swaps: int = 0
    failures: int = 0
    history: list[str] = field(default_factory=list)


def _alias_uri(uri: str) -> tuple[str, str] | None:
    """``models:/NAME@ALIAS`` → (NAME, ALIAS), else None."""
    if uri.startswith("models:/") and "@" in uri:
        name, alias = uri[len("models:/") :].split("@", 1)
        return name.strip("/"), alias
    return None


def _proposer_target(name: str) -> Target:
    """The fetched weights of proposal model ``name`` (version: its sha256's start)."""
    from nolabel.components.proposals.weights import weights_path, weights_record

    path = weights_path(name)
    return Target(str(path), name, str(weights_record(path).get("sha256", ""))[:12] or "local")


class ModelManager:
    """Resolves, loads and hot-swaps the classifier and detector.

    ``loaders`` maps a kind to ``uri -> model``; ``alias_lookup(name, alias) -> version | None``
    asks the registry (both injectable for tests).
    """

    def __init__(
        self,
        settings: Settings,
        serve_settings: ServeSettings,
        loaders: dict[str, Loader] | None = None,
        alias_lookup: Callable[[str, str], str | None] | None = None,
        kinds: tuple[str, ...] | None = None,
    ) -> None:
        self.settings = settings
        self.serve_settings = serve_settings
        self.loaders = loaders or default_loaders(
            serve_settings.model_threads, serve_settings.detector_threads, serve_settings
        )
        self._alias_lookup = alias_lookup
        proposer = (PROPOSER,) if serve_settings.proposals else ()
        self.kinds = kinds or (CLASSIFIER, DETECTOR, *proposer)
        self._current = ModelSet()
        self._swap_lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self.state = {kind: KindState() for kind in self.kinds}
        self.on_swap: list[Callable[[LoadedModel], None]] = []
        self._tracking_ready = False

    # -- snapshot -------------------------------------------------------------------------------
    def current(self) -> ModelSet:
        """The models in service right now (an immutable snapshot)."""
        return self._current

    @property
    def required_kinds(self) -> tuple[str, ...]:
        """Kinds that must be loaded for the service to be ready."""
        if self.serve_settings.require_detector:
            return self.kinds
        return tuple(k for k in self.kinds if k != DETECTOR)

    def ready(self) -> bool:
        """True when every required model is loaded."""
        models = self.current()
        return all(models.get(kind) is not None for kind in self.required_kinds)

    # -- resolution -----------------------------------------------------------------------------
    def _configured_uri(self, kind: str) -> str | None:
        return (
            self.settings.classifier_model if kind == CLASSIFIER else self.settings.detector_model
        )

    def _registry_name(self, kind: str) -> str:
        s = self.serve_settings
        names = {CLASSIFIER: s.classifier_name, DETECTOR: s.detector_name, PROPOSER: s.proposer}
        return names[kind]

    def _lookup(self, name: str, alias: str) -> str | None:
        if self._alias_lookup is not None:
            return self._alias_lookup(name, alias)

        if not self._tracking_ready:
            tracking.configure(self.settings)
            self._tracking_ready = True
        return tracking.alias_version(name, alias)

    def resolve(self, kind: str) -> Target:
        """Where ``kind`` should come from now (raises ``LookupError`` when nothing is there)."""
        if kind == PROPOSER:
            return _proposer_target(self.serve_settings.proposer)
        configured = self._configured_uri(kind)
        if configured and _alias_uri(configured) is None:
            if configured.startswith("models:/"):
                name, _, version = configured[len("models:/") :].strip("/").partition("/")
                return Target(configured, name, version or "latest")
            return Target(configured, self._registry_name(kind), "")
        if configured:
            name, alias = _alias_uri(configured)  # type: ignore[misc]
            aliases = [alias]
        else:
            name = self._registry_name(kind)
            aliases = [self.settings.model_alias, self.serve_settings.fallback_alias]
        for alias in dict.fromkeys(aliases):
            version = self._lookup(name, alias)
            if version is not None:
                return Target(f"models:/{name}/{version}", name, str(version))
        raise LookupError(f"no registered model {name!r} with alias {' or '.join(aliases)}")

    # -- loading and swapping -------------------------------------------------------------------
    def refresh(self) -> list[str]:
        """Check every kind; load and swap in what changed. Returns the kinds swapped.

        Errors never propagate: the old model stays in service and the error is recorded.
        """
        swapped = []
        with self._refresh_lock:
            for kind in self.kinds:
                if self._refresh_kind(kind):
                    swapped.append(kind)
        return swapped

    def _refresh_kind(self, kind: str) -> bool:
        state = self.state[kind]
        state.last_checked = time.time()
        try:
            target = self.resolve(kind)
        except Exception as exc:  # registry unreachable or nothing registered yet
            state.last_error = f"{type(exc).__name__}: {exc}"
            return False
        loaded = self.current().get(kind)
        if loaded is not None and loaded.uri == target.uri:  # registry URIs carry the version
            state.last_error = None
            return False
        started = time.perf_counter()
        try:
            model = self.loaders[kind](target.uri)
        except Exception as exc:
            state.failures += 1
            state.last_error = f"cannot load {target.uri}: {type(exc).__name__}: {exc}"
            log.warning("model load failed", extra={"kind": kind, "error": state.last_error})
            return False
        version = target.version or str(getattr(model, "version", "") or "local")
        name = target.name if target.version else str(getattr(model, "name", "") or target.name)
        new = LoadedModel(kind, model, name, version, target.uri, time.time())
        self.swap(new)
        state.last_error = None
        state.swaps += 1
        state.history.append(version)
        log.info(
            "model loaded",
            extra={
                "kind": kind,
                "model": name,
                "version": version,
                "uri": target.uri,
                "load_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        return True

    def swap(self, loaded: LoadedModel) -> None:
        """Put ``loaded`` in service atomically (a new snapshot object)."""
        with self._swap_lock:
            self._current = replace(self._current, **{loaded.kind: loaded})
        for callback in self.on_swap:
            callback(loaded)

    def status(self) -> dict[str, Any]:
        """Loaded models and the last check of each kind."""
        models = self.current()
        out: dict[str, Any] = {}
        for kind in self.kinds:
            loaded, state = models.get(kind), self.state[kind]
            out[kind] = {
                "loaded": loaded is not None,
                "required": kind in self.required_kinds,
                "name": loaded.name if loaded else self._registry_name(kind),
                "version": loaded.version if loaded else None,
                "uri": loaded.uri if loaded else None,
                "loaded_at": loaded.loaded_at if loaded else None,
                "last_checked": state.last_checked,
                "last_error": state.last_error,
                "swaps": state.swaps,
            }
        return out
