"""Pretrained, frozen encoders that turn an input (an image, a sentence) into a feature vector.

The generators and decoders train small heads on the features these encoders produce, so that no
network has to learn image or language features from scratch on a CPU.
"""
