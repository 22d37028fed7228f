"""Rehearsal inventory: the Vagrant VM of vagrant/Vagrantfile (Ubuntu 24.04, 4 vCPU, 8 GB).

    cd vagrant && vagrant up && cd ..
    pyinfra inventories/vagrant.py deploy.py

SSH settings come from `vagrant ssh-config`. No public names or certificates: the `.test`
names resolve nowhere, Traefik serves its default certificate (acme_ca: none); reach Open WebUI
with `curl -k --resolve chat.appliance.test:443:192.168.56.10 https://chat.appliance.test/`
or an /etc/hosts line. For Let's Encrypt staging, use real names and acme_ca: staging.
"""

from appliance.vagrant import vagrant_ssh_data

appliance = [
    (
        "vagrant",
        {
            **vagrant_ssh_data(),
            "webui_domain": "chat.appliance.test",
            "monitor_domain": "monitor.appliance.test",
            "acme_ca": "none",
            "webui_admin_email": "admin@appliance.test",
            # The private network of the Vagrantfile may reach the Kubernetes API.
            "admin_cidrs": ["192.168.56.0/24"],
            "ollama_models": ["qwen3:0.6b"],
        },
    ),
]
