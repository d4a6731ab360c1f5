"""Chaos and soak runs for the gateway: ``python -m scripts.chaos --help``."""
