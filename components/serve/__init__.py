"""serve: FastAPI REST predictions (probability, boxes, LIME) from the registered models."""
