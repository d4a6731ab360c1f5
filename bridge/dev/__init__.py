"""Stand-ins for the vendors, for development and for the tests: one fake per vendor.

Each is a real HTTP server on 127.0.0.1 that behaves like the vendor by default, records every
request and can be scripted answer by answer (:mod:`bridge.dev.fake`); each has a ``main``::

    python -m bridge.dev.zendesk       the Zendesk Chat and Support APIs (staff lookups)
    python -m bridge.dev.help_center   a Zendesk help center with JWT single sign-on
    python -m bridge.dev.hubspot       HubSpot's visitor identification and CRM contacts APIs
    python -m bridge.dev.intercom      Intercom's contacts search (likewise freshdesk, front,
                                       helpscout and crisp: each support tool's lookup API)
    python -m bridge.dev.tools         every support tool at once (the login-user view)

Not for production, and never imported by the gateway's own modules: a new vendor's stand-in is
a small module here on :class:`~bridge.dev.fake.FakeVendor`.
"""
