"""How far can a linear classifier on a backbone's features tell the animal's frames apart?

``camtrap_quality.py`` measures the method; this measures its features. For each backbone, input
size and cut, on camtrap-dev's 250 camera-trap frames (150 with deer, 100 without: other species
and empty frames):

- ``web``: logistic regression on the web photos (``deer-web`` vs ``webimages/random``), as the
  method learns — label-free with respect to the camera-trap frames;
- ``web+plates``: the same plus, as negatives, the still backgrounds of the target's bursts (the
  per-pixel median of each burst of ≥ 3 frames, brightness evened): label-free too;
- ``ceiling``: logistic regression trained on the camera-trap frames' own human labels, 5-fold
  cross-validated with whole bursts held out. No method here may train on those labels: this row
  is the best any linear "whether" on these features could reach, not something to ship.

Each row: AUC (deer vs everything without deer), AUC against the empty frames and against the
other species alone, and frame recall at specificity 0.95 (read off the ROC curve, no threshold
to pick). ``--backbone resnet50 --weights PATH`` measures a user's own checkpoint the same way.

The COCO detectors that propose animals (``nolabel weights fetch``) are featurizers too
(``centernet:640``, ``nanodet:416``): their feature maps, pooled over the frame by mean (as the
classifier pools) and by maximum (a small animal anywhere), cut 1 the maps their heads read, cut 2
the deepest backbone map.

    .venv/bin/python benchmarks/camtrap_ceiling.py
    .venv/bin/python benchmarks/camtrap_ceiling.py --config efficientnet-lite2:260
    .venv/bin/python benchmarks/camtrap_ceiling.py --config centernet:640 --config nanodet:416
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
CAMTRAP = DATA / "camtrap-dev"
DEFAULT_CONFIGS = ("efficientnet-lite0:224", "efficientnet-lite0:320", "efficientnet-lite2:260")
DETECTOR_MAPS = {  # converted graph's tensors (NCHW unless marked): cut → names
    "centernet": ("centernet-mobilenetv3-512-coco", {
        1: [("tower_0/CenternetHead/mul__704", "nhwc")],
        2: [("tower_0/CenternetHead/c5_upsample/up_sampling2d/ResizeBilinear__592", "nchw")],
    }),
    "nanodet": ("nanodet-m-416-coco", {
        1: [(f"PartitionedCall/onnx_tf_prefix_Add_{n}:0", "nchw") for n in (86, 107, 128)],
        2: [("Conv__173:0", "nchw")],
    }),
}  # fmt: skip


class DetectorFeatures:
    """Mean- and max-pooled feature maps of a converted COCO detector (``extract`` as the
    classifier's ``FeatureExtractor``: cut → N × D)."""

    def __init__(self, kind: str, side: int) -> None:
        import onnx
        import onnxruntime as ort
        from onnx import TensorProto, helper

        from nolabel.components.proposals.weights import weights_path

        name, self.maps = DETECTOR_MAPS[kind]
        self.kind, self.side = kind, side
        model = onnx.load(str(weights_path(name)))
        wanted = [tensor for maps in self.maps.values() for tensor, _ in maps]
        for tensor in wanted:
            model.graph.output.append(
                helper.make_tensor_value_info(tensor, TensorProto.FLOAT, None)
            )
        self.session = ort.InferenceSession(
            model.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        self.names = [o.name for o in self.session.get_outputs()]

    def _one(self, image: np.ndarray) -> dict[int, np.ndarray]:
        from PIL import Image

        from nolabel.components.proposals.proposer import network_size

        width, height = network_size(image.shape[1], image.shape[0], self.side)
        pixels = np.asarray(Image.fromarray(image).resize((width, height)), np.float32)
        pixels = pixels.transpose(2, 0, 1) / 255.0 if self.kind == "nanodet" else pixels
        outputs = dict(
            zip(
                self.names,
                self.session.run(None, {self.session.get_inputs()[0].name: pixels[None]}),
                strict=True,
            )
        )
        pooled = {}
        for cut, maps in self.maps.items():
            parts = []
            for tensor, layout in maps:
                value = outputs[tensor][0]
                value = (
                    value.reshape(-1, value.shape[-1])
                    if layout == "nhwc"
                    else value.reshape(value.shape[0], -1).T
                )
                parts += [value.mean(0), value.max(0)]
            pooled[cut] = np.concatenate(parts)
        return pooled

    def extract(self, images: list[np.ndarray], batch_size: int = 16) -> dict[int, np.ndarray]:
        rows = [self._one(image) for image in images]
        return {cut: np.stack([row[cut] for row in rows]) for cut in self.maps}


def load(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def camtrap_frames() -> tuple[list[Path], np.ndarray, list[str], np.ndarray]:
    """Frames, deer (bool), burst key, kind (``deer``, ``empty``, ``other_species``)."""
    kinds = {
        item["file_name"]: item["kind"]
        for item in json.loads((CAMTRAP / "camtrap" / "other.json").read_text())
    }
    paths = sorted((CAMTRAP / "camtrap" / "deer").glob("*.jpg"))
    paths += sorted((CAMTRAP / "camtrap" / "other").glob("*.jpg"))
    deer = np.array([p.parent.name == "deer" for p in paths])
    bursts = [f"{p.parent.name}/{p.stem.rsplit('_', 1)[0]}" for p in paths]
    kind = np.array([kinds.get(p.name, "deer") for p in paths])
    return paths, deer, bursts, kind


def burst_plates(paths: list[Path], bursts: list[str]) -> list[np.ndarray]:
    """The still background (per-pixel median, brightness evened) of each burst of ≥ 3 frames."""
    members: dict[str, list[Path]] = defaultdict(list)
    for path, key in zip(paths, bursts, strict=True):
        members[key].append(path)
    plates = []
    for group in members.values():
        frames = [load(p).astype(np.float32) for p in group]
        shape = Counter(f.shape for f in frames).most_common(1)[0][0]
        stack = np.stack([f for f in frames if f.shape == shape])
        if len(stack) < 3:
            continue
        stack = stack / stack.mean(axis=(1, 2, 3), keepdims=True) * stack.mean()
        plates.append(np.clip(np.median(stack, axis=0), 0, 255).astype(np.uint8))
    return plates


def figures(scores: np.ndarray, deer: np.ndarray, kind: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score, roc_curve

    empty, other = deer | (kind == "empty"), deer | (kind == "other_species")
    fpr, tpr, _ = roc_curve(deer, scores)
    return {
        "auc": round(float(roc_auc_score(deer, scores)), 3),
        "auc_vs_empty": round(float(roc_auc_score(deer[empty], scores[empty])), 3),
        "auc_vs_other": round(float(roc_auc_score(deer[other], scores[other])), 3),
        "recall_at_spec95": round(float(tpr[fpr <= 0.05].max()), 3),
    }


def measure(config: str, args, frames, plates: list[np.ndarray]) -> list[dict]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from nolabel.components.transfer.runtime import FeatureExtractor

    backbone, _, size = config.partition(":")
    paths, deer, bursts, kind = frames

    def scaler():  # the detectors' pooled maps have no common scale: standardised
        return StandardScaler() if backbone in DETECTOR_MAPS else "passthrough"

    if backbone in DETECTOR_MAPS:
        extractor = DetectorFeatures(backbone, int(size or 640))
    else:
        extractor = FeatureExtractor(
            backbone, tuple(args.cuts), int(size or 224), weights=args.weights, runtime="torch"
        )

    def features(images: list[np.ndarray]) -> dict[int, np.ndarray]:
        return extractor.extract(images, 16)

    positives = features([load(p) for p in sorted((CAMTRAP / "deer-web").glob("*.jpg"))])
    negatives = features([load(p) for p in sorted((DATA / "webimages" / "random").glob("*.jpg"))])
    target = features([load(p) for p in paths])
    background = features(plates)
    rows = []
    for cut in sorted(target):
        web_x = np.vstack([positives[cut], negatives[cut]])
        web_y = np.r_[np.ones(len(positives[cut])), np.zeros(len(negatives[cut]))]
        fits = {
            "web": (web_x, web_y),
            "web+plates": (
                np.vstack([web_x, background[cut]]),
                np.r_[web_y, np.zeros(len(background[cut]))],
            ),
        }
        for name, (x, y) in fits.items():
            scale = StandardScaler().fit(x)
            model = LogisticRegression(C=args.C, max_iter=5000, class_weight="balanced")
            scores = model.fit(scale.transform(x), y).predict_proba(scale.transform(target[cut]))[
                :, 1
            ]
            rows.append({"config": config, "cut": cut, "fit": name, **figures(scores, deer, kind)})
        ceiling = cross_val_predict(
            make_pipeline(
                StandardScaler(),
                LogisticRegression(C=args.C, max_iter=5000, class_weight="balanced"),
            ),
            target[cut],
            deer,
            groups=bursts,
            cv=GroupKFold(args.folds),
            method="predict_proba",
        )[:, 1]
        rows.append(
            {"config": config, "cut": cut, "fit": "ceiling", **figures(ceiling, deer, kind)}
        )
        for row in rows[-3:]:
            print(" | ".join(f"{k} {v}" for k, v in row.items()), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config", action="append", help="backbone:input_size, repeatable (default: three)"
    )
    parser.add_argument("--cuts", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--weights", default=None, help="resnet50: a local state-dict file")
    parser.add_argument("--C", type=float, default=0.1, help="inverse regularisation")
    parser.add_argument("--folds", type=int, default=5, help="ceiling: folds of whole bursts")
    args = parser.parse_args()
    if not (CAMTRAP / "camtrap").is_dir():
        raise SystemExit(f"camtrap-dev not found at {CAMTRAP}")
    frames = camtrap_frames()
    plates = burst_plates(frames[0], frames[2])
    print(f"{len(frames[0])} frames, {int(frames[1].sum())} with deer, {len(plates)} burst plates")
    rows = [
        row
        for config in args.config or DEFAULT_CONFIGS
        for row in measure(config, args, frames, plates)
    ]
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
