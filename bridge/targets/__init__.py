"""The widget targets: one module per vendor, listed in :mod:`bridge.targets.registry`."""
