"""What every vendor API call shares, whichever vendor it is: the resilient JSON client and
its circuit breaker (:mod:`~bridge.vendors.client`, :mod:`~bridge.vendors.breaker`), single
flight over the cache (:mod:`~bridge.vendors.singleflight`), one generic cached lookup
(:mod:`~bridge.vendors.lookup`) and strict readers for answer fields
(:mod:`~bridge.vendors.fields`). Metrics, log lines and the ``source`` of an answer name the
vendor that was called. A vendor's own lookups live with that vendor (:mod:`bridge.zendesk`,
:mod:`bridge.targets.hubspot`)."""
