"""Fine-tune from COCO, as the seeds did: the COCO CenterNet's heads trained on the method's boxes,
against the same CenterNet untouched and against the pipeline's Faster R-CNN.

The boxes are the ones the detect step learns from, no human label: the web photos' boxes from
`nolabel explain` (LIME choosing among proposals) plus the `--target` frames' pseudo-boxes and
negatives (``detect train --target``'s own rule), read from a `camtrap_quality.py` cache. The
CenterNet backbone stays frozen and runs in ONNX Runtime; its two heads (a 3×3 depthwise and a
1×1 convolution each) become torch modules (`components/proposals/torch_graph.py`'s way), the 80
class maps reduced to one "animal" map (started from the mean of the ten COCO animal classes),
and are trained with CenterNet's own losses (penalty-reduced focal loss on a Gaussian heat map,
L1 on the side distances). Judged, as proposals, on the human boxes (top 10 per frame):

    .venv/bin/python benchmarks/coco_finetune.py --domain camtrap   # cache .nolabel/bench-after
    .venv/bin/python benchmarks/coco_finetune.py --domain lion --cache .nolabel/bench-after-lion

Prints one JSON line last (AP50 / CorLoc before and after, seconds).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from camtrap_quality import DOMAINS, test_frames  # noqa: E402

FEATURES = "tower_0/CenternetHead/mul__704"  # the heads' input in the converted graph
SIDE = 640
STRIDE = 4
ANIMALS = list(range(14, 24))


def log(message: str) -> None:
    sys.stderr.write(f"[coco_finetune] {message}\n")
    sys.stderr.flush()


def backbone(path: Path):
    """An ONNX Runtime session returning the heads' input feature map (NHWC)."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    model = onnx.load(str(path))
    model.graph.output.append(helper.make_tensor_value_info(FEATURES, TensorProto.FLOAT, None))
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


class Heads:
    """The CenterNet heads in torch: one animal heat map and the four side distances."""

    def __init__(self, path: Path) -> None:
        import onnx
        import torch
        from onnx import numpy_helper

        inits = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}

        def find(part: str) -> np.ndarray:
            return next(v for k, v in inits.items() if part in k)

        def param(array) -> torch.nn.Parameter:
            return torch.nn.Parameter(torch.from_numpy(np.array(array, np.float32)))

        cls_w = find("centernet_cls_output/BiasAdd_w")
        cls_b = find("centernet_cls_output/biases")
        self.cls = [
            param(find("centernet_cls_output/separable_conv2d/depthwise_w")),
            param(cls_w[ANIMALS].mean(0, keepdims=True)),
            param(cls_b[ANIMALS].mean(keepdims=True)),
        ]
        self.wh = [
            param(find("centernet_wh_output/separable_conv2d/depthwise_w")),
            param(find("centernet_wh_output/BiasAdd_w")),
            param(find("centernet_wh_output/biases")),
        ]
        self.scale = float(next(v for k, v in inits.items() if k.startswith("tower_0/mul/y")))

    def parameters(self):
        return self.cls + self.wh

    def __call__(self, features):
        import torch.nn.functional as F

        x = features.permute(0, 3, 1, 2)
        channels = x.shape[1]

        def branch(depthwise, pointwise, bias):
            y = F.conv2d(F.pad(x, (1, 1, 1, 1)), depthwise, groups=channels)
            return F.conv2d(y, pointwise, bias)

        logits = branch(*self.cls)[:, 0]
        return logits, branch(*self.wh) * self.scale


def network_input(image, side: int = SIDE):
    """The image resized to ``side`` on its long side (multiples of 32), and its scale."""
    from nolabel.components.proposals.proposer import network_size

    width, height = image.size
    net_w, net_h = network_size(width, height, side)
    return np.asarray(image.resize((net_w, net_h)), np.float32), (net_w / width, net_h / height)


def targets(boxes, shape, scale):
    """CenterNet targets on a (rows, cols) map: Gaussian heat, centre cells and side distances."""
    rows, cols = shape
    heat = np.zeros(shape, np.float32)
    centres, sides = [], []
    for x, y, w, h in boxes:
        w, h = w * scale[0], h * scale[1]
        cx, cy = (x * scale[0] + w / 2) / STRIDE, (y * scale[1] + h / 2) / STRIDE
        col, row = min(int(cx), cols - 1), min(int(cy), rows - 1)
        sigma = max(0.5, math.sqrt(max(w, 1) * max(h, 1)) / STRIDE / 6)
        yy, xx = np.ogrid[:rows, :cols]
        heat = np.maximum(heat, np.exp(-((xx - col) ** 2 + (yy - row) ** 2) / (2 * sigma**2)))
        centres.append((row, col))
        left, top = col * STRIDE - x * scale[0], row * STRIDE - y * scale[1]
        sides.append((left, top, w - left, h - top))
    return heat, centres, sides


def focal(logits, heat):
    """CenterNet's penalty-reduced focal loss."""
    import torch

    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    positive = heat.eq(1).float()
    pos = -(torch.log(p) * (1 - p) ** 2 * positive).sum()
    neg = -(torch.log(1 - p) * p**2 * (1 - heat) ** 4 * (1 - positive)).sum()
    return (pos + neg) / positive.sum().clamp(min=1)


def training_set(args) -> list[tuple[Path, list]]:
    """(image, boxes [x, y, w, h]) from the explain step's COCO and detect train's target rule."""
    from nolabel.components.common.coco import load_coco
    from nolabel.components.detect.contract import DetectTrainParams
    from nolabel.components.detect.step import from_target

    items = []
    coco = load_coco(args.cache / f"{args.domain}-boxes.coco.json")
    root = Path(coco.get("info", {}).get("image_root", ""))
    if not root.is_dir():
        root = args.cache / f"{args.domain}-web-60"
    for img in coco["images"]:
        boxes = [a["bbox"] for a in coco["annotations"] if a["image_id"] == img["id"]]
        if boxes and (root / img["file_name"]).is_file():
            items.append((root / img["file_name"], boxes))
    if args.domain == "camtrap":
        params = DetectTrainParams(
            boxes="unused", target=str(test_frames(args.domain, args.cache)),
            classifier="models:/nolabel-classifier/1",
        )  # fmt: skip
        work = args.cache / "finetune-work"
        work.mkdir(exist_ok=True)
        negatives, pseudo = from_target(params, work)
        for img in pseudo["images"]:
            boxes = [a["bbox"] for a in pseudo["annotations"] if a["image_id"] == img["id"]]
            items.append((Path(img["file_name"]), boxes))
        items += [(path, []) for path in negatives]
    return items


def evaluate(session, heads, domain: str, frames: Path) -> dict:
    """AP50 / CorLoc of the top-10 animal proposals on the domain's human-boxed frames."""
    import torch
    from PIL import Image

    from nolabel.components.common.coco import load_coco, score_boxes
    from nolabel.components.proposals.decode import decode_centernet, nms

    gt = load_coco(DOMAINS[domain]["gt"])
    predicted = {"images": [], "annotations": []}
    for index, img in enumerate(gt["images"], 1):
        image = Image.open(frames / "with" / img["file_name"]).convert("RGB")
        pixels, (sx, sy) = network_input(image)
        outputs = session.run(None, {session.get_inputs()[0].name: pixels[None]})
        if heads is None:
            heat, sizes = sorted(outputs[:2], key=lambda o: o.shape[-1])[::-1]
            boxes, scores, _ = decode_centernet(heat, sizes, ANIMALS, 0.01)
        else:
            with torch.no_grad():
                logits, sides = heads(torch.from_numpy(outputs[-1]))
            heat = torch.sigmoid(logits)[..., None].numpy()
            sizes = sides.permute(0, 2, 3, 1).numpy()
            boxes, scores, _ = decode_centernet(heat, sizes, [0], 0.01)
        keep = nms(boxes, scores, 0.5)[:10]
        predicted["images"].append({"id": index, "file_name": img["file_name"]})
        for (x1, y1, x2, y2), s in zip(boxes[keep], scores[keep], strict=True):
            predicted["annotations"].append({"image_id": index, "score": float(s),
                "bbox": [x1 / sx, y1 / sy, (x2 - x1) / sx, (y2 - y1) / sy]})  # fmt: skip
    scored = score_boxes(predicted, gt)
    return {"ap50": round(scored["ap50"], 4), "corloc": round(scored["corloc"], 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domain", choices=("camtrap", "lion"), default="camtrap")
    parser.add_argument("--cache", type=Path, default=REPO / ".nolabel" / "bench-after")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--lr", type=float, default=2e-4)
    args = parser.parse_args()
    args.cache = args.cache.resolve()
    os.environ.setdefault("NOLABEL_HOME", str(args.cache / "home"))
    import torch
    from PIL import Image

    from nolabel.components.proposals.weights import weights_path

    path = weights_path("centernet-mobilenetv3-512-coco")
    session = backbone(path)
    frames = test_frames(args.domain, args.cache)
    figures: dict = {"domain": args.domain, "before": evaluate(session, None, args.domain, frames)}
    log(f"before: {figures['before']}")
    items = training_set(args)
    figures["train_images"] = len(items)
    heads = Heads(path)
    optimiser = torch.optim.Adam(heads.parameters(), lr=args.lr)
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    for epoch in range(args.epochs):
        total = 0.0
        for index in rng.permutation(len(items)):
            image_path, boxes = items[index]
            image = Image.open(image_path).convert("RGB")
            if rng.random() < 0.5:  # horizontal flip
                image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
                boxes = [[image.width - x - w, y, w, h] for x, y, w, h in boxes]
            pixels, scale = network_input(image)
            features = session.run([FEATURES], {session.get_inputs()[0].name: pixels[None]})[0]
            logits, sides = heads(torch.from_numpy(features))
            heat, centres, distances = targets(boxes, tuple(logits.shape[1:]), scale)
            loss = focal(logits[0], torch.from_numpy(heat))
            if centres:
                rows, cols = zip(*centres, strict=True)
                predicted = sides[0][:, list(rows), list(cols)].T
                loss = loss + 0.1 * (predicted - torch.tensor(distances)).abs().mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss)
        log(f"epoch {epoch + 1}: loss {total / max(1, len(items)):.4f}")
    figures["train_seconds"] = round(time.perf_counter() - started, 1)
    figures["after"] = evaluate(session, heads, args.domain, frames)
    log(f"after: {figures['after']}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
