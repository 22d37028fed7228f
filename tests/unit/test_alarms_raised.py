"""Every alarm class of the appliance's health.d, and Netdata's stock certificate alarm, raised
by the real Netdata daemon, and its notification delivered: Debian 12's Netdata 1.37.1
(/usr/sbin/netdata of netdata-core, extracted under ~/.cache/llm-appliance/netdata-1.37,
tests/netdata137.py) runs in the foreground with the rendered health.d/llm-appliance.conf and
health_alarm_notify.conf; its health engine runs the
1.37 alarm-notify.sh itself, which sends to a local SMTP relay (aiosmtpd) and a local webhook.

Debian's 1.37 has none of the collectors the alarms read (go.d k8s_state, httpcheck, filecheck;
its proc and diskspace plugins would read this machine), so an external plugin of the test's
own (PLUGIN) publishes the charts with the ids, contexts, families, labels and dimensions the
pinned Netdata v2.11.0 collectors publish (CHARTS, each citing its source), through 1.37's
plugins.d protocol (CHART, CLABEL, CLABEL_COMMIT, DIMENSION, BEGIN, SET, END:
collectors/plugins.d/README.md and pluginsd_parser.c at v1.37.1): first healthy values, then
values past each threshold.

What this cannot show, and why:
- `chart labels` (v2.11.0 src/health/health_config.c): 1.37's parser does not know the key
  (v1.37.1 health/health_config.c has `host labels` only), logs "unknown key 'chart labels'"
  and applies the template to every chart of its context. The test asserts exactly that log for
  the four alarms that filter (llm_disk_free, llm_ollama_restarted, llm_postgres_down,
  llm_backup_late); that 2.x picks only the labelled charts rests on reading v2.11.0.
- The cadence: each `every:` is rewritten to 1s (in the appliance: 30s to 5m), so that a test
  of a minute sees each alarm evaluated after its values change, and the `delay:` lines are
  dropped: they only postpone a notification (llm_disk_free's `up 1m`, multiplied by 1.5 for
  each change within the last delay, so 90 s to 135 s after the health engine's first pass).
  Lookups, calc and thresholds are the rendered ones: the hold of llm_node_not_ready (max over
  2 min) is shown by a chart bad for the 31 minutes before (raised) beside one that turned bad
  during the test (not raised yet); llm_container_crashloop by 3 restarts (raised) beside 1 (not);
  a waiting or terminated reason held since before the test (k8s_state keeps the last one until
  the pod goes) raises nothing, one that turns to OOMKilled does;
  llm_postgres_down's 1-minute hold and llm_memory_pressure's 10-minute average are waited for.
- The collectors themselves (that k8s_state publishes these values for a real cluster) and 2.x's
  health engine and alarm-notify.sh: read, not run (v2.11.0 sources cited in operations/alerts.py).
"""

from __future__ import annotations

import email
import json
import os
import pwd
import re
import subprocess
import sys
import time
import urllib.request

import pytest

from netdata137 import ROOT, free_port, route_files
from operations import alarms

GIB = 1024**3


def _chart(chart_id, context, units, family, labels, dimensions, variables=None):
    """One chart of CHARTS: dimensions as (id, name, algorithm, multiplier, divisor), variables
    as {name: value} (the chart's own, which an alarm reads as $name)."""
    return {
        "id": chart_id,
        "context": context,
        "units": units,
        "family": family,
        "labels": labels,
        "dimensions": dimensions,
        "variables": variables or {},
    }


def _container(pod, container):
    """k8s_state's labels of a container's charts (v2.11.0 src/go/plugin/go.d/collector/
    k8s_state/charts.go newContainerChartLabels: the pod's labels and k8s_container_name; the
    pod's k8s_cluster_id and k8s_cluster_name are left out, no alarm reads them)."""
    return {
        "k8s_namespace": "llm",
        "k8s_pod_name": pod,
        "k8s_node_name": "server-1",
        "k8s_qos_class": "burstable",
        "k8s_controller_kind": "ReplicaSet",
        "k8s_controller_name": pod.rsplit("-", 1)[0],
        "k8s_container_name": container,
    }


# k8s_state's reasons, one dimension each (v2.11.0 src/go/plugin/go.d/collector/k8s_state/collect.go
# containerWaitingStateReasons, containerTerminatedStateReasons, nodeConditionStatuses).
WAITING = (
    "ContainerCreating",
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "PodInitializing",
    "Other",
)
TERMINATED = (
    "Completed",
    "ContainerCannotRun",
    "DeadlineExceeded",
    "Error",
    "Evicted",
    "OOMKilled",
    "Other",
)
CONDITIONS = ("Ready", "DiskPressure", "MemoryPressure", "NetworkUnavailable", "PIDPressure")
OLLAMA_POD, WEBUI_POD, POSTGRES_POD = (
    "llm_ollama-7d9f8-x2k4p",
    "llm_open-webui-5c6b7-q9z8r",
    "llm_postgres-1",
)


def _pod_charts(pod, container):
    """The container charts of k8s_state the alarms read (v2.11.0 k8s_state/charts.go
    containerReadinessStateChartTmpl, containerRestartsChartTmpl, containersStateWaitingChartTmpl,
    containersStateTerminatedChartTmpl: ids pod_<ns>_<pod>_container_<name>.<what>, dimension
    ids pod_<ns>_<pod>_container_<name>_..., named as the alarms read them). 2.11.0's go.d
    publishes these as k8s_state_pod_..._container_<name>.<what> (src/go/plugin/framework/
    jobruntime/job_v1.go getChartType: the job's name, "_" and the template id's part before
    its "."); the test's k8s_state.pod_... differs in that one character only, and the alarms
    pick charts by context and labels, not id. So for the node and CronJob charts below."""
    base, labels = f"pod_{pod}_container_{container}", _container(pod.split("_", 1)[1], container)
    return [
        _chart(
            f"k8s_state.{base}.readiness_state",
            "k8s_state.pod_container_readiness_state",
            "state",
            "container readiness",
            labels,
            [(f"{base}_readiness", "ready", "absolute", 1, 1)],
        ),
        _chart(
            f"k8s_state.{base}.restarts",
            "k8s_state.pod_container_restarts",
            "restarts",
            "container restarts",
            labels,
            [(f"{base}_restarts", "restarts", "absolute", 1, 1)],
        ),
        _chart(
            f"k8s_state.{base}.state_waiting_reason",
            "k8s_state.pod_container_waiting_state_reason",
            "state",
            "container waiting reason",
            labels,
            [(f"{base}_state_waiting_reason_{r}", r, "absolute", 1, 1) for r in WAITING],
        ),
        _chart(
            f"k8s_state.{base}.state_terminated_reason",
            "k8s_state.pod_container_terminated_state_reason",
            "state",
            "container terminated reason",
            labels,
            [(f"{base}_state_terminated_reason_{r}", r, "absolute", 1, 1) for r in TERMINATED],
        ),
    ]


def _disk(mount_point, chart_id):
    """diskspace.plugin's disk.space (v2.11.0 src/collectors/diskspace.plugin/plugin_diskspace.c:
    type disk_space, family the mount point, GiB as block size / 1 GiB, labels mount_point,
    filesystem, mount_root)."""
    return _chart(
        f"disk_space.{chart_id}",
        "disk.space",
        "GiB",
        mount_point,
        {"mount_point": mount_point, "filesystem": "ext4", "mount_root": "/"},
        [
            (name, label, "absolute", 1, GIB)
            for name, label in (
                ("avail", "avail"),
                ("used", "used"),
                ("reserved_for_root", "reserved for root"),
            )
        ],
    )


def _node(name):
    """k8s_state's node_<name>.condition_status (v2.11.0 k8s_state/charts.go nodeConditionsChartTmpl,
    labels newNodeChartLabels: k8s_node_name; k8s_cluster_id and k8s_cluster_name left out)."""
    return _chart(
        f"k8s_state.node_{name}.condition_status",
        "k8s_state.node_condition",
        "status",
        "node condition",
        {"k8s_node_name": name},
        [(f"node_{name}_cond_{c}", c, "absolute", 1, 1) for c in CONDITIONS],
    )


OFFSITE_FILE = "/host/root/var/lib/llm-appliance/offsite-last"
HTTPCHECK = (
    "success",
    "no_connection",
    "timeout",
    "redirect",
    "bad_content",
    "bad_status",
    "bad_header",
)
CHARTS = [
    _disk("/var/lib/rancher", "_var_lib_rancher"),
    _disk("/", "_"),
    # proc.plugin's memory PSI (v2.11.0 src/collectors/proc.plugin/proc_pressure.c: chart
    # system.memory_some_pressure, no context of its own, family ram, dimensions "some 10",
    # "some 60", "some 300" in hundredths of a percent).
    _chart(
        "system.memory_some_pressure",
        "system.memory_some_pressure",
        "percentage",
        "ram",
        {},
        [(f"some {s}", f"some {s}", "absolute", 1, 100) for s in (10, 60, 300)],
    ),
    # proc.plugin's OOM kills (v2.11.0 src/collectors/proc.plugin/proc_vmstat.c: mem.oom_kill,
    # family OOM kills, dimension kills, incremental over /proc/vmstat oom_kill).
    _chart(
        "mem.oom_kill",
        "mem.oom_kill",
        "kills/s",
        "OOM kills",
        {},
        [("kills", "kills", "incremental", 1, 1)],
    ),
    *_pod_charts(OLLAMA_POD, "ollama"),
    *_pod_charts(WEBUI_POD, "open-webui"),
    *_pod_charts(POSTGRES_POD, "postgres"),
    _node("server-1"),
    _node("agent-1"),
    # httpcheck's status (v2.11.0 src/go/plugin/go.d/collector/httpcheck/charts.go
    # responseStatusChart, one dimension per outcome, 1 for the last check's; label url: init.go).
    _chart(
        "httpcheck_webui_health.request_status",
        "httpcheck.status",
        "boolean",
        "status",
        {"url": "https://chat.example.com/health"},
        [(o, o, "absolute", 1, 1) for o in HTTPCHECK],
    ),
    # k8s_state's CronJob (v2.11.0 k8s_state/charts.go cronJobLastCompletedTimeAgoChartTmpl,
    # labels k8s_cronjob_name, k8s_namespace; k8s_cluster_id and k8s_cluster_name left out).
    _chart(
        "k8s_state.cronjob_llm_llm-appliance-backup.last_completed_time_ago",
        "k8s_state.cronjob_last_completed_time_ago",
        "seconds",
        "cronjob execution",
        {"k8s_cronjob_name": "llm-appliance-backup", "k8s_namespace": "llm"},
        [
            (
                "cronjob_llm_llm-appliance-backup_last_successful_seconds_ago",
                "last_completed_ago",
                "absolute",
                1,
                1,
            )
        ],
    ),
    # x509check's time until expiration of the job `webui` (operations/alert_probes.py
    # k8s_state_values) at depth 0 (v2.11.0 src/go/plugin/go.d/collector/x509check/charts.go
    # certTimeUntilExpirationChartTmpl: id cert_depth%d_time_until_expiration, family expiration
    # time, dimension cert_depth%d_expiry named expiry, labels source, common_name, depth; go.d
    # names a chart's type after its module and job). The stock alarm on it is Netdata's own
    # x509check_days_until_expiration: 1.37's template (conf.d/health.d/x509check.conf of
    # netdata-core 1.37.1) reads the thresholds from the chart's variables
    # days_until_expiration_warning and _critical, which 1.37's go.d x509check set from its job
    # (14 and 7 days by default); v2.11.0's (src/health/health.d/x509check.conf) writes the same
    # 14 and 7 days into the template: `calc: $expiry / 86400`, `warn: $this < 14`, `crit: $this < 7`.
    _chart(
        "x509check_webui.cert_depth0_time_until_expiration",
        "x509check.time_until_expiration",
        "seconds",
        "expiration time",
        {"source": "https://chat.example.com:443", "common_name": "chat.example.com", "depth": "0"},
        [("cert_depth0_expiry", "expiry", "absolute", 1, 1)],
        variables={"days_until_expiration_warning": 14, "days_until_expiration_critical": 7},
    ),
    # filecheck's file_<path>_modification_time_ago (v2.11.0 src/go/plugin/go.d/collector/
    # filecheck/charts.go fileModificationTimeAgoChartTmpl, label file_path). There the path's
    # "/" stay in the chart id (cleanPath replaces only " " and "."); the test's id has "_"
    # (the alarm picks the chart by its context).
    _chart(
        "filecheck_offsite.file__host_var_lib_llm-appliance_offsite-last_modification_time_ago",
        "filecheck.file_modification_time_ago",
        "seconds",
        "file mtime",
        {"file_path": OFFSITE_FILE},
        [(f"file_{OFFSITE_FILE}_mtime_ago", "mtime_ago", "absolute", 1, 1)],
    ),
]


def _values(bad: bool) -> dict:
    """What each chart's dimensions read, healthy or past the thresholds (dimension ids)."""

    def pod(pod_name, container, ready=1, restarts=0, waiting=None, terminated=None):
        base = f"pod_{pod_name}_container_{container}"
        return {
            f"k8s_state.{base}.readiness_state": {f"{base}_readiness": ready},
            f"k8s_state.{base}.restarts": {f"{base}_restarts": restarts},
            f"k8s_state.{base}.state_waiting_reason": {
                f"{base}_state_waiting_reason_{r}": int(r == waiting) for r in WAITING
            },
            f"k8s_state.{base}.state_terminated_reason": {
                f"{base}_state_terminated_reason_{r}": int(r == terminated) for r in TERMINATED
            },
        }

    def node(name, ready):
        return {
            f"k8s_state.node_{name}.condition_status": {
                f"node_{name}_cond_{c}": int(c == "Ready" and ready) for c in CONDITIONS
            }
        }

    return {
        "disk_space._var_lib_rancher": {
            "avail": (3 if bad else 30) * GIB,
            "used": 100 * GIB,
            "reserved_for_root": 6 * GIB,
        },
        "disk_space._": {"avail": 100 * GIB, "used": 20 * GIB, "reserved_for_root": 6 * GIB},
        # 9 % stalled for 31 minutes, then 20 %: the 10-minute average passes 10 % after 55 s
        # and never reaches 30 % (critical), however long the notifications take.
        "system.memory_some_pressure": {f"some {s}": 2000 if bad else 900 for s in (10, 60, 300)},
        "mem.oom_kill": {"kills": 3 if bad else 2},
        # Ollama restarted once after an OOM kill (not the 3 restarts of a crash loop) and waits
        # in its first back-off.
        **pod(
            OLLAMA_POD,
            "ollama",
            restarts=int(bad),
            waiting="CrashLoopBackOff" if bad else None,
            terminated="OOMKilled" if bad else None,
        ),
        # Open WebUI's last waiting reason is CrashLoopBackOff from before the test (k8s_state
        # keeps it while the container runs); then it crash-loops: 3 restarts.
        **pod(WEBUI_POD, "open-webui", restarts=7 if bad else 4, waiting="CrashLoopBackOff"),
        # PostgreSQL's last end was an OOM kill long ago (kept likewise).
        **pod(POSTGRES_POD, "postgres", ready=0 if bad else 1, terminated="OOMKilled"),
        **node("server-1", ready=not bad),
        **node("agent-1", ready=False),
        "httpcheck_webui_health.request_status": {
            o: int(o == ("bad_status" if bad else "success")) for o in HTTPCHECK
        },
        "k8s_state.cronjob_llm_llm-appliance-backup.last_completed_time_ago": {
            "cronjob_llm_llm-appliance-backup_last_successful_seconds_ago": 200_000 if bad else 3600
        },
        "filecheck_offsite.file__host_var_lib_llm-appliance_offsite-last_modification_time_ago": {
            f"file_{OFFSITE_FILE}_mtime_ago": 100_000 if bad else 3600
        },
        # The certificate expires in 10 days (60 while healthy): under 14, not under 7.
        "x509check_webui.cert_depth0_time_until_expiration": {
            "cert_depth0_expiry": (10 if bad else 60) * 86400
        },
    }


# The plugin: once the file `start` is beside it (the daemon's health.d loaded: 1.37 hands out
# alarm ids without a lock, from the thread loading health.d and the one adding a plugin's charts,
# v1.37.1 database/rrdcalc.c rrdcalc_get_unique_id; two alarms sharing one id, the event of one
# marks the other's as updated and its notification is never sent, health/health_log.c
# health_alarm_log_add_entry), declares CHARTS (charts.json beside it), sends HISTORY seconds of the values in
# values.json as their past, then every second sends the values in values.json (the test rewrites
# it). 1.37's plugins.d protocol (collectors/plugins.d/README.md, pluginsd_parser.c at v1.37.1):
# CHART type.id name title units family context charttype priority update_every; CLABEL name
# value source (4: Kubernetes, 1: automatic), CLABEL_COMMIT; DIMENSION id name algorithm
# multiplier divisor; VARIABLE CHART name = value (a variable of the chart just declared);
# BEGIN type.id, SET id = value, END. The past goes as a child streaming to its parent sends
# it (streaming/replication.c, plugins_d.h at v1.37.1): RBEGIN "id", then per
# second RBEGIN '' start end now and RSET id value (the stored value: collected * multiplier /
# divisor; 0 for an incremental counter that did not move), RDSTATE id last_collected_ut
# last_collected last_calculated last_stored (what the next SET and a calc's $dimension start
# from: without it a calc reads 0 and an incremental counter jumps), and REND update_every first
# last true first last now (true: no more asked).
PLUGIN = """
import json, pathlib, sys, time
here = pathlib.Path(__file__).parent
while not (here / "start").exists():
    time.sleep(0.2)
charts, values = json.loads((here / "charts.json").read_text()), json.loads((here / "values.json").read_text())
for chart in charts:
    print(f"CHART '{chart['id']}' '' 'test' '{chart['units']}' '{chart['family']}' '{chart['context']}' line 1000 1")
    for key, value in chart["labels"].items():
        print(f"CLABEL '{key}' '{value}' {4 if key.startswith('k8s_') else 1}")
    if chart["labels"]:  # 1.37 disables a plugin that commits no label (pluginsd_clabel_commit)
        print("CLABEL_COMMIT")
    for dimension in chart["dimensions"]:
        print("DIMENSION " + " ".join(f"'{word}'" for word in dimension))
    for name, value in chart["variables"].items():
        print(f"VARIABLE CHART {name} = {value}")
now = int(time.time())
first = now - HISTORY
for chart in charts:
    print(f"RBEGIN '{chart['id']}'")
    for end in range(first + 1, now + 1):
        print(f"RBEGIN '' {end - 1} {end} {now}")
        for dim, _, algorithm, multiplier, divisor in chart["dimensions"]:
            stored = 0 if algorithm == "incremental" else values[chart["id"]][dim] * multiplier / divisor
            print(f"RSET '{dim}' {stored} ''")
    for dim, _, algorithm, multiplier, divisor in chart["dimensions"]:
        collected = values[chart["id"]][dim]
        stored = 0 if algorithm == "incremental" else collected * multiplier / divisor
        print(f"RDSTATE '{dim}' {now * 1000000} {collected} {stored} {stored}")
    print(f"REND 1 {first} {now} true {first} {now} {now}")
while True:
    for chart_id, values in json.loads((here / "values.json").read_text()).items():
        print(f"BEGIN '{chart_id}'")
        for dimension, value in values.items():
            print(f"SET '{dimension}' = {value}")
        print("END")
    sys.stdout.flush()
    time.sleep(1)
"""
# The longest lookup of the conf (30 min) and a minute more: 1.37 and 2.x run an alarm with a
# lookup only once the chart's data covers its window (v1.37.1 health/health.c
# rrdcalc_isrunnable, v2.11.0 src/health/health_event_loop.c: "not enough data yet").
HISTORY = 31 * 60


def _netdata_conf(tmp_path, port):
    """netdata.conf for 1.37: every folder under tmp_path, the API on 127.0.0.1:port, data in
    RAM at 1 s, no registry, no ML, no plugin but the test's (`[plugins]`, collectors/plugins.d/
    README.md), the health engine every second running 1.37's alarm-notify.sh (health/health.c
    at v1.37.1: `run at least every seconds`, `script to execute on alarm`). No Netdata Cloud:
    Debian's 1.37 is built without ACLK, and the statistics are opted out
    (.opt-out-from-anonymous-statistics, DO_NOT_TRACK)."""
    dirs = {
        "config": "etc",
        "log": "log",
        "web": "web",
        "cache": "cache",
        "lib": "lib",
        "home": ".",
        "lock": "lock",
        "plugins": "plugins",
        "health config": "etc/health.d",
        "stock health config": "stock-health.d",
        "registry": "registry",
    }
    for folder in dirs.values():
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
    directories = "".join(f"    {key} = {tmp_path / folder}\n" for key, folder in dirs.items())
    off = (
        "proc",
        "diskspace",
        "cgroups",
        "tc",
        "idlejitter",
        "checks",
        "timex",
        "statsd",
        "netdata monitoring",
        "python.d",
        "go.d",
        "charts.d",
        "apps",
        "ebpf",
    )
    return (
        f"[global]\n    run as user = {pwd.getpwuid(os.getuid()).pw_name}\n    hostname = rehearsal\n"
        "[db]\n    mode = dbengine\n    update every = 1\n    storage tiers = 1\n"
        "    dbengine multihost disk space MB = 64\n    dbengine page cache size MB = 32\n"
        f"[directories]\n    stock config = {ROOT / 'usr/lib/netdata/conf.d'}\n{directories}"
        f"[logs]\n    error log = {tmp_path / 'log/error.log'}\n    access log = none\n"
        f"    debug log = {tmp_path / 'log/debug.log'}\n"
        f"[web]\n    bind to = 127.0.0.1:{port}\n[registry]\n    enabled = no\n[ml]\n    enabled = no\n"
        f"[health]\n    enabled = yes\n    run at least every seconds = 1\n"
        f"    script to execute on alarm = {ROOT / 'usr/lib/netdata/plugins.d/alarm-notify.sh'}\n"
        "[plugins]\n    enable running new plugins = no\n"
        + "".join(f"    {name} = no\n" for name in off)
        + "    llm = yes\n"
    )


def _every_second(conf: str) -> str:
    """health.d text with each alarm evaluated every second and notified without delay (the
    module docstring says why)."""
    conf = re.sub(r"^( *)every: .*$", r"\1every: 1s", conf, flags=re.M)
    return re.sub(r"^ *delay: .*\n", "", conf, flags=re.M)


def _alarms(port) -> dict[tuple[str, str], str]:
    """Netdata's /api/v1/alarms?all: {(alarm, chart): status}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/alarms?all", timeout=5) as answer:
        found = json.load(answer)["alarms"].values()
    return {(alarm["name"], alarm["chart"]): alarm["status"] for alarm in found}


def _wait(what, timeout, step=1.0):
    """what() until it is truthy (returned), or the last value after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not (value := what()) and time.monotonic() < deadline:
        time.sleep(step)
    return value


def _write(path, data):
    path.with_suffix(".tmp").write_text(json.dumps(data))
    path.with_suffix(".tmp").replace(path)


OLLAMA = f"k8s_state.pod_{OLLAMA_POD}_container_ollama"
WEBUI = f"k8s_state.pod_{WEBUI_POD}_container_open-webui"
POSTGRES = f"k8s_state.pod_{POSTGRES_POD}_container_postgres"
# What each alarm of the rendered conf ends at, per chart, with the bad values: raised where the
# value crosses its threshold, CLEAR where it does not (or not yet, for the holds).
RAISED = {
    ("llm_disk_free", "disk_space._var_lib_rancher"): "CRITICAL",
    # 20 % stalled after 9 %: over 10 % of the last 10 minutes after 55 s, never over 30 %.
    ("llm_memory_pressure", "system.memory_some_pressure"): "WARNING",
    ("llm_oom_kill", "mem.oom_kill"): "WARNING",
    ("llm_ollama_restarted", f"{OLLAMA}.restarts"): "CRITICAL",
    ("llm_container_oom_killed", f"{OLLAMA}.state_terminated_reason"): "WARNING",
    ("llm_container_crashloop", f"{WEBUI}.restarts"): "CRITICAL",
    ("llm_node_not_ready", "k8s_state.node_agent-1.condition_status"): "CRITICAL",
    ("llm_postgres_down", f"{POSTGRES}.readiness_state"): "CRITICAL",
    ("llm_webui_health", "httpcheck_webui_health.request_status"): "CRITICAL",
    (
        "llm_backup_late",
        "k8s_state.cronjob_llm_llm-appliance-backup.last_completed_time_ago",
    ): "CRITICAL",
    (
        "llm_offsite_late",
        "filecheck_offsite.file__host_var_lib_llm-appliance_offsite-last_modification_time_ago",
    ): "WARNING",
    # Netdata's stock alarm (Debian's 1.37.1 file, read from the package at run time).
    (
        "x509check_days_until_expiration",
        "x509check_webui.cert_depth0_time_until_expiration",
    ): "WARNING",
}
NOT_RAISED = {
    ("llm_disk_free", "disk_space._"),
    # The control: llm_disk_free with thresholds the value (3 GiB free) does not cross.
    ("llm_disk_free_unreached", "disk_space._var_lib_rancher"),
    ("llm_container_crashloop", f"{OLLAMA}.restarts"),  # 1 restart, not 3
    # A last end OOMKilled from before the test, kept by k8s_state: not a new OOM kill.
    ("llm_container_oom_killed", f"{POSTGRES}.state_terminated_reason"),
    ("llm_node_not_ready", "k8s_state.node_server-1.condition_status"),  # not Ready < 2 min
    # 1.37 without `chart labels`: the same alarms on the other containers' charts (on Open
    # WebUI's, which restarts, 1.37 raises llm_ollama_restarted too; v2.11.0 would not).
    ("llm_ollama_restarted", f"{POSTGRES}.restarts"),
    ("llm_postgres_down", f"{WEBUI}.readiness_state"),
}


def _missing(port, mailbox, received, raised=RAISED, not_raised=NOT_RAISED) -> list[str]:
    """What `raised` ({(alarm, chart): status}) and `not_raised` ({(alarm, chart)}) expect that
    Netdata, the relay and the webhook do not show yet, one line each: [] when each alarm is at
    its status, with a POST and an e-mail for each raised one and no POST for the others."""
    statuses, posts = _alarms(port), {(b["alarm"], b["chart"], b["status"]) for _, b in received}
    # alarm-notify.sh's e-mail names the alarm, chart and severity in headers of its own.
    mails = {
        (m["X-Netdata-Alert-Name"], m["X-Netdata-Chart"], m["X-Netdata-Severity"].upper())
        for m in (email.message_from_string(mail["content"]) for mail in mailbox())
    }
    wrong = [
        f"{key}: {statuses.get(key)}, expected {status}"
        for key, status in raised.items()
        if statuses.get(key) != status
    ]
    wrong += [
        f"{key}: {statuses.get(key)}, expected CLEAR"
        for key in not_raised
        if statuses.get(key) != "CLEAR"
    ]
    wrong += [
        f"no webhook POST for {key} {status}"
        for key, status in raised.items()
        if (*key, status) not in posts
    ]
    wrong += [
        f"no e-mail for {key} {status}"
        for key, status in raised.items()
        if (*key, status) not in mails
    ]
    wrong += [
        f"webhook POST for {alarm} on {chart}"
        for alarm, chart, _ in posts
        if (alarm, chart) in not_raised
    ]
    return wrong


@pytest.fixture()
def daemon(netdata_137, smtp, webhook, tmp_path):
    """Netdata 1.37.1 running with the appliance's health.d and notification files, fed by the
    test's plugin: (API port, mailbox, webhook POSTs, values.json, error log)."""
    (mailbox, smtp_port), (received, _, hook_port) = smtp, webhook
    settings, env = route_files(
        tmp_path, smtp_port, hook_port, backup_repository="sftp:backup@10.213.0.9:/srv/restic"
    )
    conf = alarms.health_conf(settings)
    disk = next(a for a in alarms.alarms(settings) if a.name == "llm_disk_free").conf()
    control = (
        disk.replace("llm_disk_free", "llm_disk_free_unreached")
        .replace("$this < 20", "$this < 2")
        .replace("$this < 5", "$this < 1")
    )
    port = free_port()
    netdata_conf = tmp_path / "netdata.conf"
    netdata_conf.write_text(_netdata_conf(tmp_path, port))
    (tmp_path / "etc/health.d/llm-appliance.conf").write_text(_every_second(conf + "\n" + control))
    # Of the stock alarms, the certificate's only (the others read charts of this machine's own).
    stock = (ROOT / "usr/lib/netdata/conf.d/health.d/x509check.conf").read_text()
    (tmp_path / "stock-health.d/x509check.conf").write_text(_every_second(stock))
    (tmp_path / "etc/.opt-out-from-anonymous-statistics").touch()
    plugin = tmp_path / "plugins/llm.plugin"
    plugin.write_text(f"#!{sys.executable}\nHISTORY = {HISTORY}\n{PLUGIN}")
    plugin.chmod(0o755)
    (tmp_path / "plugins/charts.json").write_text(json.dumps(CHARTS))
    values = tmp_path / "plugins/values.json"
    _write(values, _values(bad=False))
    env.update(DO_NOT_TRACK="1", NETDATA_DISABLE_CLOUD="1")
    with open(tmp_path / "log/netdata.out", "w") as out:
        netdata = subprocess.Popen(
            [str(ROOT / "usr/sbin/netdata"), "-c", str(netdata_conf), "-D"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    # The health engine has started and read health.d twice (its start, then a reload).
    health_log = tmp_path / "log/health.log"
    assert _wait(
        lambda: (
            health_log.exists() and health_log.read_text().count("Read health configuration.") >= 2
        ),
        90,
    ), "Netdata's health engine did not start"
    (tmp_path / "plugins/start").touch()
    yield port, mailbox, received, values, tmp_path / "log/error.log"
    netdata.terminate()
    try:
        netdata.wait(timeout=20)
    except subprocess.TimeoutExpired:
        netdata.kill()
        netdata.wait()


def test_each_alarm_class_is_raised_and_notified(daemon):
    port, mailbox, received, values, error_log = daemon
    healthy_first = {key for key in RAISED if key[0] != "llm_node_not_ready"}

    def healthy():
        try:
            statuses = _alarms(port)
        except OSError:
            return False
        return all(statuses.get(key) == "CLEAR" for key in healthy_first | NOT_RAISED)

    assert _wait(healthy, 180), f"not all CLEAR on healthy values: {_alarms(port)}"
    # The plugin declares its charts a moment before it sends their past: an alarm evaluated in
    # between reads a dimension that holds nothing yet as 0 and may notify at once (the test
    # drops the `delay` lines; seen for llm_disk_free in 1 of 5 runs), then clears. So of the
    # alarms healthy from the start only what they notify from here on counts; healthy values
    # then notify nothing but the node bad from the start.
    bad_from_start = {"llm_node_not_ready"}
    posts_at, mails_at = len(received), len(mailbox())
    time.sleep(3)
    assert {b["alarm"] for _, b in received[posts_at:]} <= bad_from_start, received[posts_at:]

    def posts():
        return [
            post
            for at, post in enumerate(received)
            if at >= posts_at or post[1]["alarm"] in bad_from_start
        ]

    def mails():
        return [
            mail
            for at, mail in enumerate(mailbox())
            if at >= mails_at
            or email.message_from_string(mail["content"])["X-Netdata-Alert-Name"] in bad_from_start
        ]

    _write(values, _values(bad=True))
    started = time.monotonic()
    # llm_postgres_down holds 1 min; llm_memory_pressure crosses 10 % of 10 min after 55 s. The
    # daemon runs alarm-notify.sh (bash, msmtp, curl) once per alarm: on a loaded machine the
    # notifications took longer than the holds (2 of 10 runs missed one at 100 s).
    _wait(lambda: not _missing(port, mails, posts()), 300)
    missing = _missing(port, mails, posts())
    assert not missing, "\n".join(
        [
            *missing,
            "webhook POSTs:",
            *(str(b) for _, b in received),
            "e-mails:",
            *(m["content"].split("\n\n", 1)[0] for m in mailbox()),
        ]
    )
    assert time.monotonic() - started >= 55  # the holds were not skipped
    # The check fails where a threshold is not crossed: the control, expected raised.
    control = ("llm_disk_free_unreached", "disk_space._var_lib_rancher")
    assert _missing(port, mails, posts(), {control: "CRITICAL"}, set()) == [
        f"{control}: CLEAR, expected CRITICAL",
        f"no webhook POST for {control} CRITICAL",
        f"no e-mail for {control} CRITICAL",
    ]
    # 1.37 ignores `chart labels` (what 2.x filters with), saying so for these alarms only.
    refused = re.findall(r"for template '(\w+)' has unknown key '([^']+)'", error_log.read_text())
    assert sorted(set(refused)) == [
        ("llm_backup_late", "chart labels"),
        ("llm_disk_free", "chart labels"),
        ("llm_disk_free_unreached", "chart labels"),
        ("llm_ollama_restarted", "chart labels"),
        ("llm_postgres_down", "chart labels"),
    ]
