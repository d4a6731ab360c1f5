"""The login side: the cookie, the strict token layer, key sets, and the :class:`Verifier`
that turns a login token into an :class:`~bridge.login.identity.Identity`."""
