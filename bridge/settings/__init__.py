"""The configuration schema, one module per area, and the YAML loader.

    base.py      the strict model, secrets ({value}/{env}/{file}), shared field types
    login.py     upstream / upstreams
    server.py    server, cors, metrics, log, demo, staff_page
    storage.py   redis, cache, rate_limits
    zendesk.py   zendesk_chat_api, zendesk_support_api, staff
    root.py      ``Settings``: the whole file (its targets come from bridge.targets.registry)
    loading.py   ``load_settings`` and ``parse_settings``

This package's own module imports nothing, so that any layer may import one area's models
(the Redis layer its ``RedisSettings``, a target its secret types) without loading the
whole schema, which depends on every target module.
"""
