"""What the gateway asks Zendesk for the staff lookups: the resilient client and its breaker,
single flight over the cache, one generic cached lookup, and the two lookups built on it.
``python -m bridge.zendesk.dev`` runs a stand-in Zendesk for development."""
