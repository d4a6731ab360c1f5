"""Operational scripts that are not part of the package (chaos and soak runs, the audit)."""
