"""A pyinfra deploy file for the tests: runs the deploy file named by CAPTURED_DEPLOY (e.g.
uninstall.py), then writes what pyinfra planned, read from pyinfra's own state (not from the
appliance's plans), as JSON to CAPTURED_OUT:

    {"operations": [{"names": [...], "args": ["path=/etc/rancher/k3s", ...]}, ...],
     "uploads": {"/etc/x.conf": {"content": "...", "mode": "644"}, ...}}

``args`` are the arguments pyinfra attaches to an operation without a name
(pyinfra 3.10 api/operation.py attach_args); ``uploads`` come from the commands each operation
yields now (FileUploadCommand: a file's bytes and destination; a later ``chmod MODE PATH``: its
mode; an operation's ``_if`` is asked only in the Execute stage, api/operation.py
command_generator, so an upload behind one is listed). Run with --dry, the state is the plan:

    CAPTURED_DEPLOY=uninstall.py CAPTURED_OUT=out.json pyinfra @local tests/pyinfra_capture.py --dry
"""

import json
import os
import re
import shlex

from pyinfra import host, local
from pyinfra.api import FileUploadCommand

local.include(os.environ["CAPTURED_DEPLOY"])

state = host.state
operations, uploads, modes = [], {}, {}
for op_hash in state.get_op_order():
    meta = state.op_meta[op_hash]
    operations.append({"names": sorted(meta.names), "args": list(meta.args)})
    data = state.ops.get(host, {}).get(op_hash)
    for command in data.command_generator() if data else ():
        if isinstance(command, FileUploadCommand):
            source = command.src
            if isinstance(source, str):  # a local file's path
                content = open(source, "rb").read()
            else:
                source.seek(0)
                content = source.read()
            uploads[command.dest] = content.decode() if isinstance(content, bytes) else content
        elif hasattr(command, "get_raw_value"):
            for mode, path in re.findall(r"chmod (\d{3,4}) ('[^']*'|\S+)", command.get_raw_value()):
                modes[shlex.split(path)[0]] = mode
with open(os.environ["CAPTURED_OUT"], "w") as out:
    json.dump(
        {
            "operations": operations,
            "uploads": {
                path: {"content": content, "mode": modes.get(path)}
                for path, content in uploads.items()
            },
        },
        out,
    )
