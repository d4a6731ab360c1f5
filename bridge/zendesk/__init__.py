"""Zendesk's own part of the staff lookups: the Chat and Support clients built from settings,
and the two lookups (Chat visitors, Support users) built on :mod:`bridge.vendors`.
``python -m bridge.dev.zendesk`` runs a stand-in Zendesk for development."""
