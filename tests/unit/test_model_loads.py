"""Issue 21: the embedding model stays loaded beside the chat model, so a RAG question loads no
model. Counted through tests/ollama_scheduler.py, a stand-in of Ollama v0.32.15's scheduler
(server/sched.go), with the environment the appliance gives Ollama and the requests as Open
WebUI 0.12.4 sends them (a RAG question: /api/embed for the query, then /api/chat)."""

import itertools

from ollama_scheduler import Scheduler
from operations import memory, ollama
from operations.settings import load

SETTINGS = {
    "webui_domain": "chat.example.com",
    "monitor_domain": "mon.example.com",
    "acme_ca": "none",
    "webui_admin_email": "admin@example.com",
    "ollama_models": ["mistral:7b"],
}
# The GGUF headers' ARCH.context_length: mistral:7b (Mistral-7B-Instruct-v0.3) 32768,
# nomic-embed-text (nomic-bert) 2048.
TRAIN_CONTEXT = {"mistral:7b": 32768, "nomic-embed-text:latest": 2048}


def appliance_scheduler(**data) -> Scheduler:
    """The stand-in with the environment the apps layer renders for Ollama."""
    values = ollama.ollama_values(load({**SETTINGS, **data}))
    return Scheduler({e["name"]: e["value"] for e in values["extraEnv"]}, TRAIN_CONTEXT)


def rag_question(scheduler: Scheduler, chat: str = "mistral:7b") -> list[str]:
    """The models one RAG question loads: the query's embedding, then the answer."""
    return scheduler.request("nomic-embed-text:latest") + scheduler.request(chat)


def test_a_rag_question_after_a_chat_loads_nothing_once_both_are_resident():
    scheduler = appliance_scheduler()
    assert scheduler.env["OLLAMA_MAX_LOADED_MODELS"] == "2"
    assert scheduler.request("mistral:7b") == ["mistral:7b"]  # the first chat
    assert rag_question(scheduler) == ["nomic-embed-text:latest"]  # the embedder, once
    # Both resident: chats and RAG questions load nothing, and nothing is unloaded.
    for _ in range(3):
        assert rag_question(scheduler) == [] and scheduler.request("mistral:7b") == []
    assert set(scheduler.loaded) == {"mistral:7b", "nomic-embed-text:latest"}
    assert scheduler.unloads == []


def test_with_one_loaded_model_every_rag_question_swaps_twice():
    """What OLLAMA_MAX_LOADED_MODELS=1 did: the check above fails on it."""
    scheduler = appliance_scheduler()
    scheduler.env["OLLAMA_MAX_LOADED_MODELS"] = "1"
    scheduler.request("mistral:7b")
    for _ in range(3):
        assert rag_question(scheduler) == ["nomic-embed-text:latest", "mistral:7b"]
    assert len(scheduler.unloads) == 6


def test_a_request_with_another_context_reloads_the_model():
    """Open WebUI's advanced parameter num_ctx reaches Ollama as options.num_ctx: a reload, at a
    context Ollama's memory limit does not count (README says so)."""
    scheduler = appliance_scheduler()
    scheduler.request("mistral:7b")
    assert scheduler.request("mistral:7b", {"num_ctx": 8192}) == ["mistral:7b"]
    assert scheduler.request("mistral:7b", {"num_ctx": 8192}) == []
    # The embedder's training context caps what it is asked for: no reload.
    scheduler.request("nomic-embed-text:latest")
    assert scheduler.request("nomic-embed-text:latest", {"num_ctx": 8192}) == []


def test_the_models_loaded_at_any_moment_fit_ollamas_memory():
    """Three models, two loaded at a time: whichever two the requests leave loaded, their
    memory is within what operations/memory.py gives Ollama (the two largest)."""
    settings = load({**SETTINGS, "ollama_models": ["mistral:7b", "llama3.2:3b"]})
    values = ollama.ollama_values(settings)
    models = settings.models
    mib = {model: memory.loaded(settings, model).mib for model in models}
    room = memory.ollama_mib(settings) - memory.OLLAMA_SERVER_MIB
    seen = set()
    for order in itertools.product(models, repeat=4):
        scheduler = Scheduler(
            {e["name"]: e["value"] for e in values["extraEnv"]},
            {**TRAIN_CONTEXT, "llama3.2:3b": 131072},
        )
        for model in order:
            scheduler.request(model)
            seen.add(frozenset(scheduler.loaded))
            assert sum(mib[name] for name in scheduler.loaded) <= room, scheduler.loaded
    # Every pair was loaded together at some point, the two chat models too.
    assert {pair for pair in seen if len(pair) == 2} == {
        frozenset(pair) for pair in itertools.combinations(models, 2)
    }
