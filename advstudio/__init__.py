"""Adversarial Studio: see, hands-on, how fragile a neural network is."""

__version__ = "0.1.0"
