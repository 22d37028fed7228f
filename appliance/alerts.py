"""`appliance alerts test`: Netdata's test notification sent through each configured alert
route (operations/alerts.py), one at a time, and which answered.

    appliance alerts test inventories/prod.py
"""

from __future__ import annotations

import re
import sys

import click

from appliance.options import INVENTORY, first_server
from appliance.runner import last_error_line, on_host
from operations import alerts as alert_routes
from operations.names import MONITORING_NAMESPACE


@click.group()
def alerts():
    """Netdata's alarm notifications (the alert_* settings). Example:

    \b
        appliance alerts test inventories/prod.py
    """


@alerts.command("test")
@INVENTORY
def alerts_test(inventory):
    """Send a test notification through every configured route and say which answered.

    Runs Netdata's own test (alarm-notify.sh test: a WARNING, a CRITICAL and a CLEAR) in the
    Netdata parent, one route at a time. Exits 1 when a route did not answer. Example:

    \b
        appliance alerts test inventories/prod.py
    """
    first, settings = first_server(inventory)
    configured = alert_routes.routes(settings)
    if not configured:
        raise click.ClickException(
            "no alert route is set: set alert_email_to (with alert_smtp_host and "
            "alert_email_from), alert_webhook_url, alert_ntfy_url, or SLACK_WEBHOOK_URL in the "
            "file alert_secrets_file names, then deploy"
        )
    result = on_host(inventory, first.name, "exec", "--", alert_routes.test_command(configured))
    # pyinfra prints each line of the host's output after the host's name.
    answers = alert_routes.route_answers(re.sub(r"^\s*\[[^\]]+\] ", "", result.stdout, flags=re.M))
    if not answers:
        raise click.ClickException(
            f"could not run Netdata's test on {first.name}: "
            f"{last_error_line(result.stderr + result.stdout)} (is the apps layer deployed?)"
        )
    for route in configured:
        click.echo(f"{route}: {answers.get(route, 'failed')}")
    if any(answers.get(route) != "answered" for route in configured):
        click.echo(
            f"a route that failed: `k3s kubectl --namespace {MONITORING_NAMESPACE} logs "
            f"{alert_routes.PARENT.ref}` has alarm-notify.sh's reason",
            err=True,
        )
        sys.exit(1)
