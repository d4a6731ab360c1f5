"""The HTTP side: the edge middleware, CORS and Fetch Metadata, and the handlers, which turn
requests into calls on the gateway's aiohttp-free classes and their results back into answers."""
