"""Loaded by pytest before any test module: gevent's monkey patching first, as pyinfra's CLI
does it when it is imported (pyinfra_cli/__init__.py: ``monkey.patch_all()``).

appliance.cli imports pyinfra_cli, so every session is patched once a test module imports it.
A module that had imported urllib3 (requests) before that kept ssl's unpatched SSLContext, and
each HTTPS request after the patch then recursed without end (ssl.py SSLContext.minimum_version,
gevent's "Monkey-patching ssl after ssl has already been imported" case): the Traefik tests
failed so in a full run, and passed alone. Patched here, everything imports the patched ssl.
"""

import pyinfra_cli  # noqa: F401  (gevent.monkey.patch_all(), before urllib3 loads)
