"""pyinfra's config file, which pyinfra reads from the directory it runs in (this checkout):
the deploy stops, before it connects to any host, when it could not log in, and a host it
cannot speak SSH with is told without paramiko's traceback.

pyinfra 3.10 (pyinfra_cli/cli.py, _main) runs this file, then loads the inventory, then
`State.init`, then connects to every host; deploy.py (the preflight) runs only after that. A
host whose ``ssh_key`` names no file fails inside its connection greenlet with a traceback
(pyinfra/connectors/ssh_util.py, load_key_with_certificate). So this registers a state callback,
``host_before_connect`` (pyinfra/api/host.py, Host.connect), that checks the host's connection
settings first and stops the run with one line. Callbacks can only be added once
`State.init` has made their list (pyinfra/api/state.py), hence the wrapped `init`.
"""

import logging

from pyinfra import state
from pyinfra.api.state import BaseStateCallback

from operations.errors import ParamikoTracebackFilter, stop
from operations.settings import connection_problems


class ConnectionSettingsCheck(BaseStateCallback):
    @staticmethod
    def host_before_connect(state, host):
        problems = connection_problems(host.data.dict())
        if problems:
            # SystemExit leaves the connection greenlet for the main one, without a traceback
            # (gevent 26.9 gevent/hub.py: Hub.NOT_ERROR and SYSTEM_ERROR both name it), where
            # pyinfra lets it end the run (its main catches PyinfraError and Exception only).
            stop(problems, f"cannot log in to {host.name}")


# Not the level: a connection cut mid-run is told only by paramiko's own ERROR line (CI found it).
logging.getLogger("paramiko.transport").addFilter(ParamikoTracebackFilter())

_init = state.init


def _init_with_check(*arguments, **keywords):
    _init(*arguments, **keywords)
    state.add_callback_handler(ConnectionSettingsCheck())


# Replacing the method is the point (see the docstring): pyinfra offers no hook before init.
state.init = _init_with_check  # type: ignore[method-assign]
