"""The variants compared by ``nolabel train`` (the seeds' table plus camera-trap augmentations).

===================  =====================================================================
name                 what
===================  =====================================================================
``L120``             plain logistic regression on 120×120 RGB pixels
``cut1``             backbone, head dropped: pooled penultimate features (MMLSpark cut 1)
``cut2``             one stage earlier (MMLSpark cut 2)
``cut2+flip``        cut 2, training set ∪ horizontally flipped copies (seeds' "RN2+A")
``cut2+flip+grey``   … ∪ greyscale copies (night infrared)
``cut2+flip+crop``   … ∪ random scale/crop copies (small or partly visible animals)
``cut2+flip+blur``   … ∪ blurred + noisy copies (motion blur, low light)
``cut2+flip+ens``    cut2+flip, probabilities averaged over the ``group`` key ("RN2+A+E");
                     only when the dataset has a non-empty group key
===================  =====================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from nolabel.components.common.errors import InputError

PIXEL_SIZE = 120


@dataclass(frozen=True)
class Variant:
    """One row of the comparison table."""

    name: str
    cut: int  # 0 for the pixel baseline
    augmentations: tuple[str, ...] = ()
    ensemble: bool = False

    @property
    def pixels(self) -> bool:
        """Whether this is the plain-pixels baseline."""
        return self.cut == 0


ALL_VARIANTS = (
    Variant("L120", 0),
    Variant("cut1", 1),
    Variant("cut2", 2),
    Variant("cut2+flip", 2, ("flip",)),
    Variant("cut2+flip+grey", 2, ("flip", "grey")),
    Variant("cut2+flip+crop", 2, ("flip", "crop")),
    Variant("cut2+flip+blur", 2, ("flip", "blur")),
    Variant("cut2+flip+ens", 2, ("flip",), ensemble=True),
)
SEEDS = ("L120", "cut1", "cut2", "cut2+flip", "cut2+flip+ens")
_BY_NAME = {v.name.lower(): v for v in ALL_VARIANTS}


def select_variants(spec: str | list[str], has_groups: bool) -> list[Variant]:
    """Variants named by ``spec``: ``all``, ``seeds`` or a comma-separated list of names.

    Ensemble variants are dropped (``all``/``seeds``) or refused (explicit) without a group key.
    """
    names = spec if isinstance(spec, list) else [s.strip() for s in spec.split(",") if s.strip()]
    lowered = [n.lower() for n in names]
    if lowered in (["all"], []):
        chosen = list(ALL_VARIANTS)
    elif lowered == ["seeds"]:
        chosen = [_BY_NAME[n.lower()] for n in SEEDS]
    else:
        unknown = [n for n in names if n.lower() not in _BY_NAME]
        if unknown:
            raise InputError(
                f"unknown variant(s) {', '.join(unknown)}; choose from all, seeds, "
                + ", ".join(v.name for v in ALL_VARIANTS)
            )
        chosen = [_BY_NAME[n] for n in dict.fromkeys(lowered)]
        if not has_groups and any(v.ensemble for v in chosen):
            raise InputError("ensemble variants need a dataset with a non-empty group key")
    if not has_groups:
        chosen = [v for v in chosen if not v.ensemble]
    return chosen
