"""Validation at its boundaries, property-based (hypothesis): values generated from each
setting's rule are accepted, and near misses (one character, one field, one unit past the
rule) are refused with a message that names the setting."""

import ipaddress
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from operations.settings import SettingsError, load

EXAMPLES = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="session")
def refused(base_data):
    def refused(name: str, value, **extra) -> str:
        """The one problem `load` reports for `name = value`; it must start with the name."""
        with pytest.raises(SettingsError) as error:
            load({**base_data, **extra, name: value})
        (problem,) = error.value.problems
        assert problem.startswith(f"{name} = {value!r} "), problem
        return problem

    return refused


# -- domains: labels of 1-63 letters, digits and inner hyphens; a TLD of 2-63 letters -------------

LABEL = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")
TLD = st.from_regex(r"\A[a-z]{2,63}\Z")
DOMAIN = st.builds(
    lambda labels, tld: ".".join([*labels, tld]), st.lists(LABEL, min_size=1, max_size=4), TLD
).filter(lambda name: len(name) <= 253)


@EXAMPLES
@given(DOMAIN, st.sampled_from(["webui_domain", "monitor_domain"]))
def test_domains_are_accepted(base_data, name, setting):
    assert getattr(load({**base_data, setting: name.upper() + "."}), setting) == name


@EXAMPLES
@given(
    DOMAIN,
    st.sampled_from(
        [
            lambda name: "-" + name,  # a label starting with a hyphen
            lambda name: name.replace(".", "-.", 1),  # a label ending with one
            lambda name: "a" * 64 + "." + name,  # a label of 64 characters
            lambda name: name.replace(".", "..", 1),  # an empty label
            lambda name: name.replace(".", "_.", 1),  # an underscore
            lambda name: name + "4",  # a digit in the top-level domain
            lambda name: name + ".x",  # a top-level domain of one letter
            lambda name: name.split(".")[0],  # a single label
        ]
    ),
)
def test_near_miss_domains_are_refused(refused, name, spoil):
    assert "is not a fully qualified domain name" in refused("webui_domain", spoil(name))


def test_a_domain_of_254_characters_is_refused(refused, base_data):
    name = ".".join(["a" * 63] * 3 + ["b" * 57]) + ".com"  # 253 characters
    assert load({**base_data, "webui_domain": name}).webui_domain == name
    assert "is not a fully qualified domain name" in refused("webui_domain", "a" + name)


# -- e-mail addresses -----------------------------------------------------------------------------

LOCAL = st.text(
    alphabet=string.ascii_letters + string.digits + ".!#$%&'*+/=?^_`{|}~-", min_size=1, max_size=40
)
EMAIL = st.builds(lambda local, domain: f"{local}@{domain}", LOCAL, DOMAIN)


@EXAMPLES
@given(EMAIL, st.sampled_from(["acme_email", "webui_admin_email"]))
def test_emails_are_accepted(base_data, address, setting):
    assert getattr(load({**base_data, setting: address}), setting) == address


@EXAMPLES
@given(
    EMAIL,
    st.sampled_from(
        [
            lambda address: address.replace("@", ""),  # no @
            lambda address: address.replace("@", "@@", 1),  # two
            lambda address: address.split("@")[0] + "@localhost",  # no dot in the domain
            lambda address: "@" + address.split("@")[1],  # no local part
            lambda address: address.replace("@", " @", 1),  # a space
            lambda address: address + ".",  # an empty last label
        ]
    ),
)
def test_near_miss_emails_are_refused(refused, address, spoil):
    assert "is not an e-mail address" in refused("acme_email", spoil(address))


# -- networks -------------------------------------------------------------------------------------

NETWORK = st.one_of(
    st.tuples(st.ip_addresses(v=4), st.integers(0, 32)),
    st.tuples(st.ip_addresses(v=6), st.integers(0, 128)),
).map(lambda pair: ipaddress.ip_network(f"{pair[0]}/{pair[1]}", strict=False))


@EXAMPLES
@given(st.lists(NETWORK, max_size=3))
def test_networks_are_accepted(base_data, networks):
    assert load({**base_data, "admin_cidrs": [str(n) for n in networks]}).admin_cidrs == tuple(
        map(str, networks)
    )


@EXAMPLES
@given(NETWORK.filter(lambda n: n.num_addresses > 1))
def test_a_network_with_host_bits_is_refused(refused, network):
    with_host_bits = f"{network.network_address + 1}/{network.prefixlen}"
    fixes = (
        f"whose address has host bits set for a /{network.prefixlen}: write {network} for the "
        f"whole network, or {network.network_address + 1}/{network.max_prefixlen} for the one address"
    )
    assert fixes in refused("admin_cidrs", [with_host_bits])
    assert fixes in refused("k3s_cluster_cidr", with_host_bits)


@pytest.mark.parametrize(
    "value",
    [
        "192.0.2.0/33",
        "256.0.2.0/24",
        "192.0.2/24",
        "2001:db8::/129",
        "192.0.2.0/-1",
        "example.com/24",
    ],
)
def test_near_miss_networks_are_refused(refused, value):
    assert "which is not a network" in refused("admin_cidrs", [value])


# -- times of day ---------------------------------------------------------------------------------


@EXAMPLES
@given(st.integers(0, 23), st.integers(0, 59))
def test_times_are_accepted(base_data, hour, minute):
    assert (
        load(
            {**base_data, "unattended_reboot_time": f"{hour:02}:{minute:02}"}
        ).unattended_reboot_time
        == f"{hour:02}:{minute:02}"
    )


@EXAMPLES
@given(
    st.integers(0, 23),
    st.integers(0, 59),
    st.sampled_from(
        [
            lambda hour, minute: f"{hour + 24}:{minute:02}",
            lambda hour, minute: f"{hour:02}:{minute + 60}",
            lambda hour, minute: f"{hour % 10}:{minute:02}",
            lambda hour, minute: f"{hour:02}:{minute % 10}",
            lambda hour, minute: f"{hour:02}{minute:02}",
            lambda hour, minute: f"{hour:02}:{minute:02}:00",
        ]
    ),
)
def test_near_miss_times_are_refused(refused, hour, minute, spoil):
    assert "must be a time of day as HH:MM" in refused(
        "unattended_reboot_time", spoil(hour, minute)
    )


# -- cron schedules (as Kubernetes reads a CronJob's: minute hour day month weekday) --------------

FIELD_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))


@st.composite
def cron_field(draw, bounds):
    low, high = bounds
    first = draw(st.integers(low, high))
    last = draw(st.integers(first, high))
    item = draw(
        st.sampled_from(
            [
                "*",
                f"{first}",
                f"{first}-{last}",
                f"*/{draw(st.integers(1, high))}",
                f"{first}-{last}/{draw(st.integers(1, high))}",
            ]
        )
    )
    more = draw(st.lists(st.integers(low, high).map(str), max_size=2))
    return ",".join([item, *more]) if item != "*" or not more else item


SCHEDULE = st.tuples(*(cron_field(bounds) for bounds in FIELD_BOUNDS)).map(" ".join)


@EXAMPLES
@given(SCHEDULE)
def test_cron_schedules_are_accepted(base_data, schedule):
    assert load({**base_data, "backup_schedule": schedule}).backup_schedule == schedule


@EXAMPLES
@given(
    SCHEDULE,
    st.integers(0, 4),
    st.sampled_from(
        [
            lambda bounds: str(bounds[1] + 1),  # one past the field's range
            lambda bounds: str(bounds[0] - 1),  # one below it
            lambda bounds: f"{bounds[1]}-{bounds[0]}",  # a range backwards
            lambda bounds: "*/0",  # a step of nothing
            lambda bounds: f"{bounds[0]},",  # an empty list item
            lambda bounds: "x",  # not a number
        ]
    ),
)
def test_near_miss_cron_fields_are_refused(refused, schedule, index, spoil):
    fields = schedule.split()
    fields[index] = spoil(FIELD_BOUNDS[index])
    assert "is not a cron schedule" in refused("backup_schedule", " ".join(fields))


@EXAMPLES
@given(SCHEDULE, st.sampled_from([lambda s: s.rsplit(" ", 1)[0], lambda s: s + " 1"]))
def test_cron_schedules_of_four_or_six_fields_are_refused(refused, schedule, spoil):
    assert "is not a cron schedule of five fields" in refused("backup_schedule", spoil(schedule))


# -- model names and k3s versions -------------------------------------------------------------

NAME = st.from_regex(r"\A[a-z0-9][a-z0-9._-]{0,20}\Z")
TAG = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,30}\Z")
MODEL = st.builds(
    lambda namespace, name, tag: f"{namespace}{name}:{tag}",
    st.sampled_from(["", "library/", "registry.example.com/team/", "localhost:5000/"]),
    NAME,
    TAG,
)


@EXAMPLES
@given(MODEL)
def test_model_names_are_accepted(base_data, model):
    loaded = load({**base_data, "ollama_models": [model], "ollama_model_sizes": {model: 1.0}})
    assert loaded.ollama_models == (model,)


@EXAMPLES
@given(
    MODEL,
    st.sampled_from(
        [
            lambda model: model.rsplit(":", 1)[0],  # no tag
            lambda model: model + ":",  # an empty tag
            lambda model: model.rsplit(":", 1)[0] + ":-rc1",  # a tag starting with a hyphen
            lambda model: model.rsplit(":", 1)[0] + ":" + "a" * 129,  # a tag of 129 characters
            lambda model: "Upper" + model,  # capitals in the name
            lambda model: model.replace(":", " :", 1),  # a space
            lambda model: "-" + model,  # a name starting with a hyphen
        ]
    ),
)
def test_near_miss_model_names_are_refused(refused, model, spoil):
    spoiled = spoil(model)
    assert "has malformed model names" in refused("ollama_models", [spoiled])


@EXAMPLES
@given(st.sampled_from(["36", "37"]), st.integers(0, 99), st.integers(1, 9))
def test_k3s_versions_are_accepted(base_data, minor, patch, build):
    version = f"v1.{minor}.{patch}+k3s{build}"
    assert load({**base_data, "k3s_version": version}).k3s_version == version


@EXAMPLES
@given(
    st.integers(0, 99),
    st.integers(1, 9),
    st.sampled_from(
        [
            lambda patch, build: f"1.36.{patch}+k3s{build}",  # no v
            lambda patch, build: f"v1.36.{patch}-k3s{build}",  # a hyphen for the plus
            lambda patch, build: f"v1.36.{patch}+k3s",  # no build number
            lambda patch, build: f"v1.36.{patch}",  # no k3s suffix
            lambda patch, build: f"v2.36.{patch}+k3s{build}",  # another major
        ]
    ),
)
def test_near_miss_k3s_versions_are_refused(refused, patch, build, spoil):
    assert "is not a k3s release" in refused("k3s_version", spoil(patch, build))


@EXAMPLES
@given(st.sampled_from(["33", "34", "35", "38"]), st.integers(0, 99), st.integers(1, 9))
def test_k3s_versions_of_other_minors_are_refused(refused, minor, patch, build):
    assert "ships a Traefik chart" in refused("k3s_version", f"v1.{minor}.{patch}+k3s{build}")
