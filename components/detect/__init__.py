"""detect: MMDetection Faster R-CNN fine-tuned on LIME boxes; batch scoring of image folders."""
