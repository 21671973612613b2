"""LIME step: superpixel explanations of the classifier turned into bounding boxes."""
