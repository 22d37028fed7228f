"""Settings: defaults, normalisation, and one clear message per bad value."""

import re
import shlex
from pathlib import Path

import pytest

from operations.model_sizes import KNOWN_MODEL_SIZES_GIB
from operations.names import LAYERS
from operations.pins import PINNED_VERSIONS
from operations.settings import SettingsError, connection_problems, load
from operations.settings_table import SETTINGS, markdown_table
from operations.sizing import PLATFORM_DISK_GIB


@pytest.fixture(scope="session")
def problems(base_data):
    def problems(**data):
        with pytest.raises(SettingsError) as error:
            load({**base_data, **data})
        return error.value.problems

    return problems


def test_defaults(base_data):
    settings = load(base_data)
    assert settings.layers == LAYERS
    assert settings.acme_ca == "production"
    assert settings.k3s_version == PINNED_VERSIONS["k3s"]
    assert settings.admin_cidrs == ()
    assert settings.unattended_reboot is False
    assert settings.ollama_models == ("llama3.2:3b",)


def test_every_setting_is_documented_and_typed():
    for setting in SETTINGS:
        assert setting.doc.endswith(".") and setting.type, setting.name
        if not setting.required and setting.default is not None:
            # A default must pass its own validation.
            assert setting.parse(setting.default) is not None


def test_normalisation(base_data):
    settings = load(
        {
            **base_data,
            "webui_domain": "Chat.Example.COM.",
            "layers": "host",
            "admin_cidrs": "192.0.2.0/24, 2001:db8::/32",
            "unattended_reboot": "yes",
            "ollama_models": ["qwen3:4b", "qwen3:4b"],
            "acme_ca": "Staging",
        }
    )
    assert settings.webui_domain == "chat.example.com"
    assert settings.layers == ("host",)
    assert settings.admin_cidrs == ("192.0.2.0/24", "2001:db8::/32")
    assert settings.unattended_reboot is True
    assert settings.ollama_models == ("qwen3:4b",)
    assert settings.acme_ca == "staging"


def test_pyinfra_keys_are_not_settings(base_data, tmp_path):
    (tmp_path / "k").write_text("a key\n")
    load(
        {
            **base_data,
            "ssh_user": "root",
            "ssh_port": 2222,
            "_sudo": True,
            "ssh_key": str(tmp_path / "k"),
        }
    )


@pytest.mark.parametrize(
    "data, message",
    [
        (
            {"webui_domain": "chat_example"},
            "webui_domain = 'chat_example' is not a fully qualified domain name; use a name like chat.example.com",
        ),
        ({"webui_domain": "localhost"}, "webui_domain = 'localhost' is not a fully qualified"),
        ({"webui_domain": "-bad.example.com"}, "is not a fully qualified"),
        ({"webui_domain": 42}, "webui_domain = 42 expected a string, got int"),
        (
            {"monitor_domain": None},
            "monitor_domain: missing; set it in the inventory. Public name of the Netdata monitoring UI.",
        ),
        (
            {"monitor_domain": "monitor"},
            "monitor_domain = 'monitor' is not a fully qualified domain name; use a name like monitor.example.com",
        ),
        (
            {"k3s_tls_sans": ["api"]},
            "k3s_tls_sans = ['api'] is not a fully qualified domain name; use a name like k3s.example.com",
        ),
        (
            {"monitor_domain": "chat.example.com"},
            "monitor_domain = 'chat.example.com' is the same as webui_domain",
        ),
        ({"acme_email": None}, "acme_email: missing while acme_ca = 'production'"),
        (
            {"acme_email": None, "acme_ca": "none"},
            "webui_admin_email: missing (and no acme_email to fall back on); "
            "set the e-mail of Open WebUI's first admin account",
        ),
        (
            {"backup_credentials_file": "/nonexistent/key"},
            "backup_credentials_file = '/nonexistent/key' names "
            "'/nonexistent/key', which is not a file on this machine",
        ),
        (
            {"backup_schedule": "61 3 * * *"},
            "backup_schedule = '61 3 * * *' is not a cron schedule: its minute "
            "field has '61', outside 0-59; use e.g. '30 3 * * *' (03:30 daily)",
        ),
        (
            {"ollama_model_files": {"mine:7b": "/nonexistent.gguf"}},
            "names '/nonexistent.gguf' for mine:7b, which is not a file on this machine",
        ),
        (
            {"ollama_pull_timeout_minutes": 0},
            "ollama_pull_timeout_minutes = 0 must be a whole number above 0",
        ),
        ({"ollama_gpu": "amd"}, "ollama_gpu = 'amd' must be one of: auto, nvidia, none"),
        (
            {"ollama_context_length": 256},
            "ollama_context_length = 256 must be a whole number of tokens, at least 512",
        ),
        (
            {"ollama_context_length": "4k"},
            "ollama_context_length = '4k' must be a whole number of tokens, at least 512",
        ),
        (
            {"ollama_kv_cache_type": "q5_1"},
            "ollama_kv_cache_type = 'q5_1' must be one of: f16, q8_0, q4_0",
        ),
        ({"ollama_num_parallel": 0}, "ollama_num_parallel = 0 must be a whole number above 0"),
        (
            {"ollama_flash_attention": "auto"},
            "ollama_flash_attention = 'auto' must be true or false",
        ),
        (
            {"ollama_prompt_cache_mib": -1},
            "ollama_prompt_cache_mib = -1 must be a whole number of MiB, at least 0",
        ),
        (
            {"ollama_flash_attention": False},
            "ollama_kv_cache_type = 'q8_0' needs flash attention, which "
            "ollama_flash_attention = false turns off; set ollama_flash_attention: "
            "true, or ollama_kv_cache_type: f16",
        ),
        (
            {"acme_email": "root@localhost"},
            "acme_email = 'root@localhost' is not an e-mail address",
        ),
        (
            {"acme_ca": "letsencrypt"},
            "acme_ca = 'letsencrypt' must be one of: production, staging, none",
        ),
        (
            {"k3s_version": "v1.36.4"},
            "k3s_version = 'v1.36.4' is not a k3s release; use the form vX.Y.Z+k3sN",
        ),
        (
            {"ollama_models": ["llama3.2"]},
            "has malformed model names ['llama3.2']; use name:tag in lower case, e.g. llama3.2:3b "
            "(the tag pins what is pulled: `ollama pull llama3.2` takes llama3.2:latest)",
        ),
        ({"ollama_models": ["Llama:3b"]}, "has malformed model names ['Llama:3b']"),
        (
            {"ollama_model_sizes": {"mystery:7b": -1}},
            "gives mystery:7b the size -1; use a positive number of GiB",
        ),
        ({"layers": ["host", "k8s"]}, "layers = ['host', 'k8s'] names unknown layers ['k8s']"),
        ({"layers": ""}, "names unknown layers []"),
        (
            {"admin_cidrs": ["192.0.2.1/24"]},
            "admin_cidrs = ['192.0.2.1/24'] has '192.0.2.1/24', whose address has "
            "host bits set for a /24: write 192.0.2.0/24 for the whole network, or "
            "192.0.2.1/32 for the one address",
        ),
        (
            {"admin_cidrs": ["2001:db8::1/64"]},
            "2001:db8::/64 for the whole network, or 2001:db8::1/128 for the one address",
        ),
        (
            {"admin_cidrs": ["192.0.2.300/24"]},
            "has '192.0.2.300/24', which is not a network; use CIDR notation",
        ),
        (
            {"k3s_service_cidr": "10.42.128.0/17"},
            "k3s_service_cidr = '10.42.128.0/17' overlaps k3s_cluster_cidr",
        ),
        (
            {"unattended_reboot": "sometimes"},
            "unattended_reboot = 'sometimes' must be true or false",
        ),
        (
            {"unattended_reboot_time": "4am"},
            "unattended_reboot_time = '4am' must be a time of day as HH:MM",
        ),
        (
            {"webui_domian": "x.example.com"},
            "webui_domian: unknown setting; did you mean 'webui_domain'?",
        ),
        ({"ssh_usr": "root"}, "ssh_usr: unknown setting; did you mean 'ssh_user'?"),
        ({"flavour": "vanilla"}, "flavour: unknown setting; see the settings table in README.md"),
    ],
)
def test_bad_value_names_setting_and_fix(problems, data, message):
    found = problems(**data)
    assert len(found) == 1, found
    assert message in found[0]


def test_none_acme_needs_no_email(base_data):
    settings = load(
        {**base_data, "acme_email": None, "acme_ca": "none", "webui_admin_email": "a@example.com"}
    )
    assert settings.acme_email is None and settings.admin_email == "a@example.com"


def test_every_problem_is_reported_at_once(problems):
    found = problems(webui_domain="bad", acme_ca="nope", layers="x")
    assert [p.split(" ")[0] for p in found] == ["layers", "webui_domain", "acme_ca"]


def test_largest_model_and_disk_need(base_data):
    settings = load({**base_data, "ollama_models": ["llama3.1:8b", "qwen3:4b"]})
    assert settings.largest_model == ("llama3.1:8b", KNOWN_MODEL_SIZES_GIB["llama3.1:8b"])
    # The embedding model (nomic-embed-text, 0.26 GiB) is pulled too.
    assert settings.disk_needed_gib == pytest.approx(PLATFORM_DISK_GIB + 4.6 + 2.4 + 0.26)


def test_model_files_must_be_listed_and_give_their_size(problems, base_data, tmp_path):
    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"\0" * 2048)
    (problem,) = problems(ollama_model_files={"mine:7b": str(gguf)})
    assert problem.startswith("ollama_model_files: ['mine:7b'] are not in ollama_models")
    settings = load(
        {**base_data, "ollama_models": ["mine:7b"], "ollama_model_files": {"mine:7b": str(gguf)}}
    )
    assert settings.model_size_gib("mine:7b") == pytest.approx(2048 / 1024**3)
    assert settings.model_size("mine:7b") == (pytest.approx(2048 / 1024**3), "GGUF file")
    assert settings.models == ("mine:7b", "nomic-embed-text:latest")


def test_size_override_for_unknown_model(base_data):
    settings = load(
        {
            **base_data,
            "ollama_models": ["acme/private:7b"],
            "ollama_model_sizes": {"acme/private:7b": 4},
        }
    )
    assert settings.model_size_gib("acme/private:7b") == 4.0


def test_ollama_knobs_default_for_the_8_gb_box(base_data):
    settings = load(base_data)
    assert (
        settings.ollama_context_length,
        settings.ollama_kv_cache_type,
        settings.ollama_num_parallel,
        settings.ollama_flash_attention,
        settings.ollama_prompt_cache_mib,
    ) == (4096, "q8_0", 1, True, 0)
    # f16 needs no flash attention; a kind name is read in lower case.
    assert (
        load(
            {**base_data, "ollama_kv_cache_type": "F16", "ollama_flash_attention": False}
        ).ollama_kv_cache_type
        == "f16"
    )


DOUBLED = re.compile(r"[.;:,][.;:,)]|\)\)")


def test_no_doubled_punctuation_in_messages_or_the_table(problems):
    missing = [problems(**{s.name: None})[0] for s in SETTINGS if s.required]
    for text in [*missing, markdown_table()]:
        assert not DOUBLED.search(text), text


def test_a_model_the_table_lacks_is_left_to_the_preflight(base_data):
    settings = load({**base_data, "ollama_models": ["mystery:7b"]})
    assert settings.unsized_models == ("mystery:7b",)
    assert settings.model_size("mystery:7b") is None
    assert settings.model_size("llama3.2:3b") == (1.9, "built-in table")


def test_longest_gap_between_backups_follows_the_schedule():
    from operations.cron import cron_longest_gap_hours

    assert {
        schedule: cron_longest_gap_hours(schedule)
        for schedule in (
            "30 3 * * *",
            "0 3,15 * * *",
            "*/15 * * * *",
            "0 3 * * 0",
            "0 3 1 * *",
            "0 2 1 * 1",
            "0 0 1 1 *",
            "0 0 29 2 *",
        )
    } == {
        "30 3 * * *": 24.0,  # daily, the default
        "0 3,15 * * *": 12.0,
        "*/15 * * * *": 0.25,
        "0 3 * * 0": 168.0,  # Sundays
        "0 3 1 * *": 744.0,  # the 1st: 31 days from 1 to 1
        "0 2 1 * 1": 168.0,  # the 1st or a Monday (both restricted: either)
        "0 0 1 1 *": 8760.0,  # once a year
        "0 0 29 2 *": None,  # not in 2026-2027
    }


def test_an_ssh_key_that_is_not_there_is_named_with_the_fix(problems, base_data, tmp_path):
    assert problems(ssh_key="~/no-such-key") == [
        "ssh_key = '~/no-such-key' is not a file on this machine; give the private key pyinfra "
        "logs in with (e.g. ~/.ssh/id_ed25519; `ssh-keygen -t ed25519` makes one), or leave "
        "ssh_key out to log in with your SSH agent and ~/.ssh keys"
    ]
    key = tmp_path / "id_ed25519"
    key.write_text("a key\n")
    assert load({**base_data, "ssh_key": str(key)}).webui_domain == "chat.example.com"


def test_the_model_sizes_error_suggests_a_form_that_is_accepted(problems, base_data):
    """pyinfra's --data reads a mapping only as JSON: the Python form {'m:7b': 4.5} stays a
    string. The message's own examples, pasted, are accepted."""
    from appliance.inventory import parse_data

    (problem,) = problems(ollama_model_sizes="mymodel:7b=4.5")
    assert problem == (
        "ollama_model_sizes = 'mymodel:7b=4.5' must map model names to sizes in GiB, e.g. "
        '{"mymodel:7b": 4.5} (on the command line: --data \'ollama_model_sizes={"mymodel:7b": '
        "4.5}')"
    )
    pasted = shlex.split(problem.split("on the command line: ")[1][:-1])
    assert pasted == ["--data", 'ollama_model_sizes={"mymodel:7b": 4.5}']
    settings = load({**base_data, "ollama_models": ["mymodel:7b"], **parse_data(pasted[1:])})
    assert settings.model_size("mymodel:7b") == (4.5, "ollama_model_sizes")
    inventory_form = eval(problem.split("e.g. ")[1].split(" (")[0])  # as Python reads it
    assert load({**base_data, "ollama_model_sizes": inventory_form}).ollama_model_sizes == {
        "mymodel:7b": 4.5
    }
    # The form the message suggested before: pyinfra leaves it a string, which is refused.
    assert parse_data(["ollama_model_sizes={'mymodel:7b': 4.5}"]) == {
        "ollama_model_sizes": "{'mymodel:7b': 4.5}"
    }


def test_lists_and_mappings_on_the_command_line_as_the_readme_writes_them(base_data):
    from appliance.inventory import parse_data

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    lines = [
        line
        for line in readme.splitlines()
        if line.startswith("pyinfra -y inventories/mine.py deploy.py --data ")
    ]
    pasted = [shlex.split(line)[-1] for line in lines]
    assert pasted == [
        "ollama_models=qwen3:4b,llama3.2:3b",
        'ollama_models=["qwen3:4b", "llama3.2:3b"]',
        'ollama_model_sizes={"mymodel:7b": 4.5}',
    ]
    for pair in pasted[:2]:
        assert load({**base_data, **parse_data([pair])}).ollama_models == (
            "qwen3:4b",
            "llama3.2:3b",
        )
    assert load({**base_data, **parse_data(pasted[2:])}).ollama_model_sizes == {"mymodel:7b": 4.5}


def test_a_public_key_given_as_ssh_key_is_named_with_the_fix(tmp_path):
    """A newcomer's commonest mix-up (found trying the first hour): KEY.pub where KEY is
    meant; paramiko then says 'Invalid private key file' from inside pyinfra's greenlet."""
    public = tmp_path / "id_ed25519.pub"
    public.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB0 admin@laptop\n")
    assert connection_problems({"ssh_key": str(public)}) == [
        f"ssh_key = '{public}' is a public key; give its private key, the same path without "
        f".pub (e.g. {tmp_path / 'id_ed25519'})"
    ]
    private = tmp_path / "id_ed25519"
    private.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    assert connection_problems({"ssh_key": str(private)}) == []


@pytest.mark.parametrize(
    "data, line",
    [
        (
            {"alert_smtp_tls": True},
            "alert_smtp_tls = True must be one of: starttls, tls, none",
        ),
        (
            {"tls_certificate": 5},
            "tls_certificate = 5 expected a string, got int; write a path on this machine "
            "in quotes",
        ),
        (
            {"alert_email_to": [1], "alert_email_from": "a@example.com"},
            "alert_email_to = [1] expected a string, got int; write a list of e-mails, "
            "each in quotes",
        ),
        (
            {"alert_email_to": 1, "alert_email_from": "a@example.com"},
            "alert_email_to = 1 expected a list, got int; write a list of e-mails, each in quotes",
        ),
        (
            {"webui_domain": 42},
            "webui_domain = 42 expected a string, got int; write a domain in quotes",
        ),
    ],
)
def test_a_value_of_the_wrong_type_is_told_what_to_write(problems, data, line):
    assert problems(**data, alert_smtp_host="smtp.example.com")[0] == line


@pytest.mark.parametrize(
    "data, line",
    [
        (
            {"alert_smtp_port": "587"},
            "alert_smtp_port = '587' must be a TCP port, a whole number from 1 to 65535, "
            "e.g. 587; write it without quotes",
        ),
        (
            {"ollama_num_parallel": "2"},
            "ollama_num_parallel = '2' must be a whole number above 0; write it without quotes",
        ),
        (
            {"ollama_context_length": "8192"},
            "ollama_context_length = '8192' must be a whole number of tokens, at least 512; "
            "write it without quotes",
        ),
        (
            {"idle_logout_seconds": " 600"},
            "idle_logout_seconds = ' 600' must be a whole number of seconds, or 0 for off; "
            "write it without quotes",
        ),
        (
            {"alert_smtp_port": "smtp"},
            "alert_smtp_port = 'smtp' must be a TCP port, a whole number from 1 to 65535, e.g. 587",
        ),
    ],
)
def test_a_quoted_whole_number_is_told_to_lose_its_quotes(problems, data, line):
    assert problems(**data) == [line]


def test_a_relative_path_not_found_says_where_it_was_looked_for(problems, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    where = f"(looked for at {tmp_path}/%s: a relative path is read from the current folder)"
    assert problems(alert_secrets_file="alert-secrets.env") == [
        "alert_secrets_file = 'alert-secrets.env' names 'alert-secrets.env', which is not a "
        f"file on this machine {where % 'alert-secrets.env'}"
    ]
    assert problems(ollama_model_files={"mine:7b": "models/mine.gguf"})[0] == (
        "ollama_model_files = {'mine:7b': 'models/mine.gguf'} names 'models/mine.gguf' for "
        f"mine:7b, which is not a file on this machine {where % 'models/mine.gguf'}"
    )
    assert problems(k3s_airgap_dir="airgap") == [
        f"k3s_airgap_dir = 'airgap' is not a folder on this machine {where % 'airgap'}; give "
        "the folder with the k3s air-gap files"
    ]
    assert problems(ssh_key="keys/id_ed25519")[0].startswith(
        f"ssh_key = 'keys/id_ed25519' is not a file on this machine {where % 'keys/id_ed25519'}; "
        "give the private key"
    )
    # An absolute path is where it was looked for already.
    assert problems(alert_secrets_file="/nonexistent.env") == [
        "alert_secrets_file = '/nonexistent.env' names '/nonexistent.env', which is not a "
        "file on this machine"
    ]


def test_an_air_gap_folder_without_the_release_files_is_refused(problems, base_data, tmp_path):
    assert problems(k3s_airgap_dir=str(tmp_path)) == [
        f"k3s_airgap_dir = '{tmp_path}' lacks k3s, sha256sum-amd64.txt, install.sh, "
        "k3s-airgap-images-amd64.tar.zst; put there these files of the k3s release that "
        "k3s_version names (an arm64 host: k3s-arm64, sha256sum-arm64.txt, "
        "k3s-airgap-images-arm64.tar.zst)"
    ]
    (tmp_path / "k3s-arm64").write_bytes(b"k3s")
    (tmp_path / "install.sh").write_text("#!/bin/sh\n")
    assert problems(k3s_airgap_dir=str(tmp_path)) == [
        f"k3s_airgap_dir = '{tmp_path}' lacks sha256sum-arm64.txt, "
        "k3s-airgap-images-arm64.tar.zst; put there these files of the k3s release that "
        "k3s_version names"
    ]
    (tmp_path / "sha256sum-arm64.txt").write_text("")
    (tmp_path / "k3s-airgap-images-arm64.tar.gz").write_bytes(b"images")
    assert load({**base_data, "k3s_airgap_dir": str(tmp_path)}).k3s_airgap_dir == str(tmp_path)
