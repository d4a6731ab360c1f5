"""The adversarial suite: hostile inputs by family, each with the answer it must get.

Every input is a request (or a login token inside one) that an attacker could send; its
expected answer is a 4xx with its JSON ``code`` (or a specific 429), never a 5xx and never a
minted token. The families and where they live:

==============  ==========================================  =====================================
family          what                                         where
==============  ==========================================  =====================================
alg             ``none`` in every casing, unconfigured       ``tests/test_hostile_tokens.py``
                algorithms, HS/RS key confusion with the     (``CASES``: the verifier's verdict
                public key as PEM, DER, PKCS#1, OpenSSH,     and reason) and
                JWK and hex                                  ``tests/test_api_hostile_tokens.py``
signature       stripped, truncated, altered, other keys     (the same table through HTTP, both
header          ``kid`` paths/SQL/commands, ``jku``,         token endpoints)
                ``jwk``, ``x5u``, ``x5c``, ``crit``, ``b64``
encoding        padding, alphabets, trailing bits,
                whitespace, UTF-8/16/32, BOM, duplicates,
                nesting, sizes
claims          time claims of every wrong type and size
sub             control, bidi, surrogates, length, types
iss-aud         issuer and audience look-alikes
email           ``email`` abuse                              ``test_email.py``
cookie          duplicate, renamed, encoded, relocated       ``test_cookies.py``
                login cookies
origin          look-alike origins on a cross-site fetch     ``test_origins.py``
http            malformed HTTP/1.1, smuggling, paths,        ``test_http_layer.py``
                methods (raw bytes on a socket)
forwarding      dodging the rate limits with forwarding      ``test_forwarding.py``
                headers, ports, IPv6 and many addresses
==============  ==========================================  =====================================

``python -m tests.adversarial.census`` prints the count of each family; given a JUnit XML file
of a pytest run (``--junitxml``) it also counts the inputs that got their expected answer.

Sources:

* RFC 8725, JSON Web Token Best Current Practices (§2.1 weak signatures and ``none``, §2.7
  ``kid`` injection, §3.1 algorithm verification, §3.2 appropriate algorithms, §3.8/§3.9
  issuer and audience, §3.10 do not trust received claims, §3.11 explicit typing);
  RFC 7515 §2, §4.1.11 and §5.2, RFC 7519 §7.2, RFC 7797 (``b64``), RFC 8259 §4.
* The JWT attack playbook of jwt_tool (ticarpi/jwt_tool wiki) and PortSwigger's Web Security
  Academy JWT labs: ``none``, key confusion, ``jwk``/``jku``/``kid`` header injection.
* PyJWT's published advisories: CVE-2017-11424 and CVE-2022-29217 (algorithm confusion with a
  PEM or OpenSSH public key as the HMAC secret), CVE-2024-53861 (partial ``iss`` match),
  CVE-2026-32597 (PyJWT <= 2.11.0 accepted unknown ``crit`` extensions; the strict layer
  refuses every ``crit``).
* RFC 6265 §5.2 and §5.4 (cookie parsing; cookie tossing from sibling domains), RFC 6454
  (origins), W3C Fetch Metadata Request Headers, RFC 9112 §6.1 and §11.2 (request smuggling),
  RFC 7239 and the X-Forwarded-For conventions (client address spoofing).
"""
