"""Boxes from change within a burst, on generated bursts."""

from __future__ import annotations

import numpy as np
from PIL import Image

from nolabel.components.common.change import change_boxes


def _iou(a, b) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def _scene(seed: int = 0, size=(240, 320)) -> np.ndarray:
    """A still textured background (leaves, grass) with a little sensor noise per frame."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(40, 160, size=(size[0] // 8, size[1] // 8), dtype=np.uint8)
    return np.asarray(Image.fromarray(coarse).resize(size[::-1], Image.BILINEAR), dtype=np.float32)


def _burst(folder, boxes, *, gains=None, falloff=None, seed=0, size=(240, 320)):
    """Frames of one still scene; ``boxes[i]`` (x, y, w, h) is a bright animal in frame i or
    None; ``gains[i]`` scales frame i's brightness (an infrared flash); ``falloff[i]`` is how
    much brighter frame i's bottom row is than its top (a flash that reaches less far)."""
    folder.mkdir(parents=True, exist_ok=True)
    background = _scene(seed, size)
    rng = np.random.default_rng(seed + 1)
    paths = []
    for index, box in enumerate(boxes):
        frame = background + rng.normal(0, 6.0, size=background.shape)  # sensor noise, JPEG
        if box is not None:
            x, y, w, h = box
            frame[y : y + h, x : x + w] += 60.0  # a lighter animal, night-IR contrast
        frame *= 1.0 if gains is None else gains[index]
        if falloff is not None:
            frame *= np.linspace(1.0, falloff[index], size[0])[:, None]
        path = folder / f"SEQ1_{index + 1:02d}.jpg"
        grey = np.clip(frame, 0, 255).astype(np.uint8)
        Image.fromarray(np.repeat(grey[..., None], 3, axis=2)).save(path, quality=95)
        paths.append(path)
    return paths


def test_a_moving_animal_is_boxed_in_every_frame(tmp_path):
    truth = [(10, 100, 80, 56), (80, 110, 80, 56), (150, 120, 80, 56), (220, 100, 80, 56)]
    found = change_boxes(_burst(tmp_path / "b", truth))
    for box, regions in zip(truth, found, strict=True):
        assert regions, "every frame shows the animal"
        assert _iou(regions[0].bbox, box) >= 0.5
        assert regions[0].score > 3.0


def test_a_still_scene_gives_no_box_even_when_the_flash_changes_brightness(tmp_path):
    paths = _burst(tmp_path / "b", [None] * 5, gains=[1.0, 1.3, 0.7, 1.1, 0.9])
    assert all(not regions or regions[0].score < 3.0 for regions in change_boxes(paths))


def test_a_flash_that_fades_down_the_frame_is_no_change_but_the_animal_still_is(tmp_path):
    falloff = [1.0, 1.6, 0.6, 1.3, 0.8]
    still = change_boxes(_burst(tmp_path / "still", [None] * 5, falloff=falloff))
    assert all(not regions or regions[0].score < 3.0 for regions in still)
    truth = [None, (150, 150, 64, 64), None, None, None]
    found = change_boxes(_burst(tmp_path / "animal", truth, falloff=falloff))
    assert _iou(found[1][0].bbox, truth[1]) >= 0.5


def test_an_animal_in_only_some_frames_is_boxed_only_there(tmp_path):
    truth = [None, None, (150, 80, 64, 64), None, None]  # ~5 % of the frame
    found = change_boxes(_burst(tmp_path / "b", truth))
    assert _iou(found[2][0].bbox, truth[2]) >= 0.5
    assert all(not found[i] or found[i][0].score < found[2][0].score / 3 for i in (0, 1, 3, 4))


def test_short_bursts_odd_sizes_and_unreadable_frames_give_no_box_and_no_error(tmp_path):
    two = _burst(tmp_path / "two", [(20, 20, 40, 40), (200, 100, 40, 40)])
    assert change_boxes(two) == [[], []]
    paths = _burst(tmp_path / "b", [(20, 100, 48, 32), (90, 110, 48, 32), (170, 120, 48, 32)])
    odd = _burst(tmp_path / "odd", [(10, 10, 20, 20)], size=(100, 100))[0]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    found = change_boxes([*paths, odd, broken])
    assert all(found[i] for i in range(3)) and found[3] == [] and found[4] == []
    assert change_boxes([*two[:1], odd, broken]) == [[], [], []]
