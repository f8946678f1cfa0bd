"""Shape classification: networks, ModelNet data and augmentation, training, evaluation,
calibration (open-set rule), grouped splits, shipping and inference with voting."""
