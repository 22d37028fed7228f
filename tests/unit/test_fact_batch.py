"""read_fact, the deploy's one cache of facts: a read is kept until an operation changed the
host, or, for a fact kept for the run (ApplianceRead), until a fresh read. The host here has
the shape of pyinfra 3.10's run state that operations/pyinfra_internals.py reads (State.ops,
OperationMeta); tests/integration/test_readiness.py counts the real run's remote commands."""

from types import SimpleNamespace

from pyinfra.api import FactBase

from operations.fact_batch import read_fact
from operations.health import ApplianceRead


class Hostname(FactBase):
    def command(self):
        return "hostname"


class Host:
    """Answers each get_fact with how many it has answered, 1 first; ``change()`` completes
    one more operation that changed it."""

    def __init__(self):
        self.state = SimpleNamespace(current_stage=40, ops={self: {}})
        self.asked = []

    def get_fact(self, fact_class, **arguments):
        self.asked.append(fact_class.__name__)
        return len(self.asked)

    def change(self):
        meta = SimpleNamespace(is_complete=lambda: True, did_change=lambda: True)
        self.state.ops[self][f"op{len(self.state.ops[self])}"] = SimpleNamespace(
            operation_meta=meta
        )


def test_a_fact_is_read_again_only_after_an_operation_changed_the_host():
    host = Host()
    assert [read_fact(host, Hostname), read_fact(host, Hostname)] == [1, 1]
    host.change()
    assert [read_fact(host, Hostname), read_fact(host, Hostname)] == [2, 2]
    assert host.asked == ["Hostname", "Hostname"]


def test_the_cluster_read_is_kept_for_the_run_until_a_fresh_read():
    host = Host()
    assert read_fact(host, ApplianceRead, domain="chat.example.com") == 1
    host.change()
    assert read_fact(host, ApplianceRead, domain="chat.example.com") == 1
    assert read_fact(host, ApplianceRead, fresh=True, domain="chat.example.com") == 2
    assert read_fact(host, ApplianceRead, domain="chat.example.com") == 2
    assert host.asked == ["ApplianceRead", "ApplianceRead"]
