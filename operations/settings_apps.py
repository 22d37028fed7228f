"""The settings table's rows for the apps, in the README's order: Ollama (models, their sizes and
files, the GPU and the knobs its pod's environment carries, how long to wait for them) and
Open WebUI (its admin, sign-up, embedding model, settings and OIDC).
operations/settings_table.py assembles them.
"""

from __future__ import annotations

from types import MappingProxyType

from operations.local_files import model_files
from operations.parsers import (
    at_least,
    boolean,
    email,
    model_names,
    model_sizes,
    oidc,
    one_of,
    positive_int,
)
from operations.setting import Setting
from operations.webui_env import webui_settings

# A changed value of an Ollama knob changes its pod's environment: Kubernetes restarts Ollama,
# and each model loads with the new value at its next request.
OLLAMA_RESTART = "every deploy: Ollama restarts, models load again at their next request"
APP_SETTINGS = (
    Setting(
        "ollama_models",
        ("llama3.2:3b",),
        "list of name:tag",
        "Chat models Ollama must have; the deploy pulls the missing ones.",
        model_names,
        takes_effect="every deploy; a model taken off the list stays on Ollama's volume",
    ),
    Setting(
        "ollama_model_sizes",
        MappingProxyType({}),
        "mapping name:tag -> GiB",
        "Download sizes of models not in the built-in table, for the RAM and disk preflight "
        "(air-gap; otherwise read from the Ollama registry).",
        model_sizes,
    ),
    Setting(
        "ollama_model_files",
        MappingProxyType({}),
        "mapping name:tag -> local file",
        "Air-gap: GGUF files on this machine imported as these models instead of pulled.",
        model_files,
    ),
    Setting(
        "ollama_pull_timeout_minutes",
        60,
        "minutes",
        "How long the model Job may pull before Kubernetes stops it.",
        positive_int,
    ),
    Setting(
        "ready_timeout_minutes",
        60,
        "minutes",
        "How long a deploy waits for k3s, then the apps, to be ready (charts installed, "
        "pods available, Open WebUI answering, models present) before it fails.",
        positive_int,
    ),
    Setting(
        "ollama_gpu",
        "auto",
        "choice",
        "GPU for Ollama: auto (an NVIDIA GPU when the host has one with a working driver, "
        "else the CPU), nvidia (require one), or none (the CPU).",
        one_of("auto", "nvidia", "none"),
        takes_effect="every deploy; back to the CPU, the toolkit and device plugin stay installed",
    ),
    # Ollama itself takes any context from 4 tokens (server/sched.go getRunner); below 512 a
    # conversation with Open WebUI's system and RAG prompts hardly fits, so the floor is ours.
    # Ollama v0.32.15 caps it at the GGUF's context_length (llm/server.go NewLlamaServer before
    # `-c`; server/sched.go effectiveModelContext for the batch), but the model table
    # (operations/model_memory.py) holds no training context, so the estimate counts it whole.
    Setting(
        "ollama_context_length",
        4096,
        "tokens",
        "Context of every model Ollama loads (OLLAMA_CONTEXT_LENGTH). Its KV cache is "
        "allocated whole when a model loads: Ollama's memory and the preflight count it, at "
        "this context even above a model's own training context, where Ollama caps it, so "
        "there they err high.",
        at_least(512, "tokens"),
        takes_effect=OLLAMA_RESTART,
    ),
    Setting(
        "ollama_kv_cache_type",
        "q8_0",
        "choice",
        "KV cache type (OLLAMA_KV_CACHE_TYPE): f16, q8_0 (about half of f16's memory) or q4_0 "
        "(about a quarter); q8_0 and q4_0 need ollama_flash_attention.",
        one_of("f16", "q8_0", "q4_0"),
        takes_effect=OLLAMA_RESTART,
    ),
    Setting(
        "ollama_num_parallel",
        1,
        "count",
        "Requests a chat model answers at once (OLLAMA_NUM_PARALLEL); each one has a KV "
        "cache of the whole context.",
        positive_int,
        takes_effect=OLLAMA_RESTART,
    ),
    Setting(
        "ollama_flash_attention",
        True,
        "bool",
        "Flash attention in llama.cpp (OLLAMA_FLASH_ATTENTION): smaller compute buffers; "
        "needed by a q8_0 or q4_0 KV cache.",
        boolean,
        takes_effect=OLLAMA_RESTART,
    ),
    Setting(
        "ollama_prompt_cache_mib",
        0,
        "MiB",
        "RAM each loaded chat model may keep idle conversations' KV state in, to answer "
        "their next message without reading the whole prompt again (llama-server's "
        "--cache-ram, through LLAMA_ARG_CACHE_RAM; its own default is 8192); 0: off. "
        "Counted in Ollama's memory.",
        at_least(0, "MiB"),
        takes_effect=OLLAMA_RESTART,
    ),
    Setting(
        "webui_admin_email",
        None,
        "e-mail",
        "E-mail of Open WebUI's first admin account; defaults to acme_email.",
        email,
        takes_effect="first install: Open WebUI makes its first admin once",
    ),
    Setting(
        "webui_signup",
        False,
        "bool",
        "Let visitors sign up to Open WebUI (new accounts wait for an admin's approval).",
        boolean,
    ),
    Setting(
        "webui_embedding_model",
        "nomic-embed-text:latest",
        "name:tag",
        "Ollama model that embeds RAG documents (pulled like ollama_models).",
        lambda value: model_names([value])[0],
        takes_effect="every deploy; documents embedded before must be imported again",
    ),
    Setting(
        "webui_new_user_role",
        "pending",
        "choice",
        "Role of a new Open WebUI account, signed up or first signed in through SSO: pending "
        "(waits for an admin's approval) or user.",
        one_of("pending", "user"),
        takes_effect="every deploy; accounts made before keep their role",
    ),
    Setting(
        "webui_settings",
        MappingProxyType({}),
        "mapping NAME -> value",
        "Open WebUI's own environment variables (names its pinned release reads), e.g. "
        '{"DEFAULT_MODELS": "llama3.2:3b"}; a secret as {"secret": NAME, "key": KEY} of a '
        "Secret in the llm namespace. They win over the admin panel at every start.",
        webui_settings,
        echoed=False,
    ),
    Setting(
        "oidc",
        None,
        "mapping",
        "Single sign-on through an OpenID Connect provider: "
        '{"provider": ISSUER_URL, "client_id": ID, "client_secret": {"secret": NAME, "key": '
        'KEY}, "allowed_domains": [DOMAIN], "password_login": true}; the redirect URI '
        "to register is https://webui_domain/oauth/oidc/callback. Unset: no SSO.",
        oidc,
        echoed=False,
    ),
)
