"""The settings most unit tests start from: the three a host cannot do without (README
"Settings": webui_domain, monitor_domain, and acme_email or, with acme_ca none, the
administrator's e-mail), as fixtures a test adds its own settings to:

    def test_signup(base_data):
        assert load({**base_data, "webui_signup": True}).webui_signup

Each is read-only (a mappingproxy, a frozen Settings), so one test's additions never reach
another's.

Also the fixtures of the alert tests (tests/netdata137.py: Debian 12's Netdata 1.37.1
extracted, a local SMTP relay and a local webhook), for test_alert_notifications.py and
test_alarms_raised.py.
"""

from types import MappingProxyType

import pytest

from netdata137 import netdata_137, smtp, webhook  # noqa: F401 (fixtures)
from operations.settings import Settings, load


@pytest.fixture(scope="session")
def base_data() -> MappingProxyType:
    """A host's data with Let's Encrypt certificates (acme_email)."""
    return MappingProxyType(
        {
            "webui_domain": "chat.example.com",
            "monitor_domain": "monitor.example.com",
            "acme_email": "admin@example.com",
        }
    )


@pytest.fixture(scope="session")
def base_data_no_acme() -> MappingProxyType:
    """A host's data without ACME (acme_ca none: Traefik's own certificate), so the
    administrator's e-mail is given as webui_admin_email."""
    return MappingProxyType(
        {
            "webui_domain": "chat.example.com",
            "monitor_domain": "monitor.example.com",
            "acme_ca": "none",
            "webui_admin_email": "admin@example.com",
        }
    )


@pytest.fixture(scope="session")
def base_settings(base_data) -> Settings:
    """``base_data`` loaded."""
    return load(base_data)


@pytest.fixture(scope="session")
def base_settings_no_acme(base_data_no_acme) -> Settings:
    """``base_data_no_acme`` loaded."""
    return load(base_data_no_acme)


@pytest.fixture(scope="session")
def settings_of(base_data):
    """``settings_of(**data)``: ``base_data`` with ``data`` over it, loaded (a Settings)."""

    def settings_of(**data) -> Settings:
        return load({**base_data, **data})

    return settings_of
