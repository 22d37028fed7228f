"""The appliance's own operations on a host's running system: systemd units, kernel modules,
kernel parameters and the clock.

Each reads its state through the batched facts (operations/fact_batch.py ``read_fact``), so a layer
that declared them reads the host once; pyinfra's built-ins (``systemd.service``,
``server.modprobe``, ``server.sysctl``) would read each unit, module and parameter on its own.
Shared by the host and k3s layers, which import nothing of each other.
"""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import operation
from pyinfra.facts.server import Sysctl

from operations.fact_batch import read_fact
from operations.host_facts import KernelModules, SystemdUnit, TimeSyncService


@operation()
def unit_running(unit: str, running: bool = True):
    """
    Enable a systemd unit and start it, unless it is both already; with ``running=False``,
    stop and disable it unless it is neither (a unit not installed is neither).

    .. code:: python

        unit_running(unit="fail2ban.service")
    """
    state = read_fact(host, SystemdUnit, unit=unit)
    enabled, active = state.get("UnitFileState") == "enabled", state.get("ActiveState") == "active"
    if running and not (enabled and active):
        yield f"systemctl enable --now {shlex.quote(unit)}"
    elif not running and (enabled or active):
        yield f"systemctl disable --now {shlex.quote(unit)}"
    else:
        host.noop(f"{unit} is {'enabled and active' if running else 'neither enabled nor active'}")


@operation()
def kernel_modules_loaded(names: tuple[str, ...]):
    """
    Load kernel modules that are neither loaded nor built in.

    .. code:: python

        kernel_modules_loaded(names=("overlay", "br_netfilter"))
    """
    present = read_fact(host, KernelModules, names=names)
    missing = [name for name in names if name not in present]
    if not missing:
        host.noop(f"kernel modules {', '.join(names)} are loaded")
    for name in missing:
        yield f"modprobe {shlex.quote(name)}"


@operation()
def kernel_parameters_applied(path: str, parameters: dict[str, str]):
    """
    Load a sysctl drop-in when a running value differs from it (after the file changed, or
    when someone changed a value by hand); a no-op while the kernel matches.

    .. code:: python

        kernel_parameters_applied(path="/etc/sysctl.d/90-k8s.conf", parameters={"vm.panic_on_oom": "0"})
    """
    live = read_fact(host, Sysctl, keys=tuple(parameters))
    if any(str(live.get(key)) != value for key, value in parameters.items()):
        yield f"sysctl -p {shlex.quote(path)}"
    else:
        host.noop(f"the kernel runs every parameter of {path}")


@operation()
def ntp_synchronization():
    """
    Keep the clock synchronised with systemd-timesyncd (ACME needs a correct clock): enabled,
    and running unless its own conditions skip it (a container shares its host's clock).

    .. code:: python

        ntp_synchronization()
    """
    service = read_fact(host, TimeSyncService)
    running = service.get("ActiveState") == "active" or service.get("ConditionResult") == "no"
    if service.get("UnitFileState") != "enabled" or not running:
        yield "systemctl enable --now systemd-timesyncd.service"
    else:
        host.noop("systemd-timesyncd is enabled and running")
