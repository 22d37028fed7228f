"""llm-appliance: turn one server into a private LLM appliance.

    pyinfra inventories/prod.py deploy.py                 # every layer
    pyinfra inventories/prod.py deploy.py --data layers=host

Validates the settings and checks the host first; only then do the layers run, in order.
"""

from operations import apps as apps_layer
from operations import host as host_layer
from operations import k3s as k3s_layer
from operations import offsite
from operations.cluster import is_first_server
from operations.preflight import checked_settings
from operations.summary import summary_printed

settings = checked_settings()
# Each layer's settings by name: pyinfra 3.10 types a deploy's call with its global arguments
# first (pyinfra/api/arguments_typed.py, PyinfraOperation), where a positional one is `_sudo`.

# The operation that makes the off-site repository's password (pyinfra's OperationMeta): the
# summary asks it whether it changed the host.
new_password = None
if "host" in settings.layers:
    host_layer.install(settings=settings)
    if is_first_server():  # where the archives and the k3s datastore are
        new_password = offsite.install(settings=settings)
if "k3s" in settings.layers:
    k3s_layer.install(settings=settings)
if "apps" in settings.layers:
    apps_layer.install(settings=settings)

summary_printed(
    name="Summary",
    settings=settings,
    inventory_hint="INVENTORY",
    first_server=is_first_server(),
    new_password=new_password,
)
