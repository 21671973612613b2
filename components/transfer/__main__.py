"""Container entrypoint: ``python -m nolabel.components.transfer train|classify|run-json|…``."""

from __future__ import annotations

from nolabel.components.common.cli import container_main
from nolabel.components.transfer.cli import register
from nolabel.components.transfer.contract import CLASSIFY, TRAIN

if __name__ == "__main__":
    help_text = "nolabel transfer step: train and compare classifiers, classify images."
    container_main(help_text, register, (TRAIN, CLASSIFY))
