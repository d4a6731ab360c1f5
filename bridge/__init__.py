"""bridge: turns a verified login token into each support widget's proof of who the visitor is."""

__version__ = "0.1.0"
