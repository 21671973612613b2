"""What a camera-trap team does with ``nolabel score``'s results: MegaDetector-format JSON, CSV
tables, sorted folders, crops of the detections and a static review page."""
