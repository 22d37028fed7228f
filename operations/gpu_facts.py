"""NVIDIA GPU facts: the host's GPUs as sysfs and the driver (`nvidia-smi`) report them, and
whether containerd, as k3s configured it, has NVIDIA's runtime (operations/gpu.py).
"""

from __future__ import annotations

from pyinfra.api import FactBase


class NvidiaGpus(FactBase):
    """
    NVIDIA GPUs on the host: display controllers of PCI vendor 10de (from sysfs, whether or not
    a driver runs) and what the driver reports through ``nvidia-smi``: each GPU's name, memory
    in MiB and driver version. ``driver_problem`` says why the driver did not answer.

    .. code:: python

        host.get_fact(NvidiaGpus)
        # {"pci_devices": ["0000:01:00.0"], "driver_problem": None,
        #  "gpus": [{"name": "GeForce RTX 2080", "memory_mib": 7979, "driver_version": "440.64"}]}
    """

    def command(self):
        return (
            "for d in /sys/bus/pci/devices/*; do "
            '[ "$(cat "$d/vendor" 2>/dev/null)" = 0x10de ] || continue; '
            'case "$(cat "$d/class" 2>/dev/null)" in 0x03*) echo "pci ${d##*/}";; esac; done; '
            "if command -v nvidia-smi >/dev/null 2>&1; then "
            "nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader,nounits "
            '2>&1; echo "exit $?"; else echo "exit 127"; fi'
        )

    def process(self, output):
        pci = [line.split()[1] for line in output if line.startswith("pci ")]
        smi = [line.strip() for line in output if line.strip() and not line.startswith("pci ")]
        status = smi.pop() if smi and smi[-1].startswith("exit ") else "exit 127"
        gpus, problem = [], None
        if status == "exit 0":
            for line in smi:
                fields = [field.strip() for field in line.rsplit(",", 2)]
                if len(fields) != 3 or not fields[1].isdigit():
                    problem = f"nvidia-smi printed {line!r}, not a GPU's name, memory and driver"
                    continue
                gpus.append(
                    {"name": fields[0], "memory_mib": int(fields[1]), "driver_version": fields[2]}
                )
        elif status == "exit 127" and not smi:
            problem = "nvidia-smi is not installed (no NVIDIA driver)"
        else:
            problem = f"nvidia-smi failed: {smi[0] if smi else status}"
        return {"pci_devices": pci, "gpus": gpus, "driver_problem": problem}


class NvidiaRuntimeInContainerd(FactBase):
    """
    Whether nvidia-container-runtime is installed and whether the containerd config k3s wrote
    at its last start names it (None before k3s wrote one).

    .. code:: python

        host.get_fact(NvidiaRuntimeInContainerd, binary="/usr/bin/nvidia-container-runtime",
                      config="/var/lib/rancher/k3s/agent/etc/containerd/config.toml")
        # {"installed": True, "in_config": False}
    """

    @staticmethod
    def default():
        return {"installed": False, "in_config": None}

    def command(self, binary, config):
        return (
            f"[ -x {binary} ] && echo installed; "
            f"if [ -f {config} ]; then grep -q {binary} {config} && echo in-config || "
            "echo not-in-config; fi; true"
        )

    def process(self, output):
        words = {line.strip() for line in output}
        in_config = True if "in-config" in words else False if "not-in-config" in words else None
        return {"installed": "installed" in words, "in_config": in_config}
