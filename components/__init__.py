"""nolabel: an object detector for almost anything, from web image search, with no human labels."""

__version__ = "0.1.0"
