"""The model table: download sizes of common Ollama library models, in GiB.

What the RAM and disk preflight and `Settings.model_size` use for a model the settings give no
size for; the preflight reads other models' sizes from the Ollama registry (from the host).
Imports nothing of the project.
"""

from types import MappingProxyType

# Download sizes (GiB) of common models, from the Ollama library. The preflight reads other
# models' sizes from the Ollama registry (from the host); air-gapped hosts need
# `ollama_model_sizes`.
KNOWN_MODEL_SIZES_GIB = MappingProxyType(
    {
        "all-minilm:latest": 0.04,
        "nomic-embed-text:latest": 0.26,
        "mxbai-embed-large:latest": 0.62,
        "tinyllama:1.1b": 0.59,
        "qwen2.5:0.5b": 0.37,
        "qwen2.5:1.5b": 0.92,
        "qwen2.5:3b": 1.8,
        "qwen2.5:7b": 4.4,
        "qwen2.5:14b": 8.4,
        "qwen2.5:32b": 18.5,
        "qwen2.5:72b": 44.0,
        "qwen3:0.6b": 0.49,
        "qwen3:1.7b": 1.3,
        "qwen3:4b": 2.4,
        "qwen3:8b": 4.9,
        "qwen3:14b": 8.7,
        "qwen3:32b": 18.8,
        "llama3.2:1b": 1.2,
        "llama3.2:3b": 1.9,
        "llama3.1:8b": 4.6,
        "llama3.1:70b": 39.6,
        "llama3.1:405b": 226.4,
        "llama3.3:70b": 39.6,
        "mistral:7b": 3.8,
        "gemma2:2b": 1.5,
        "gemma2:9b": 5.0,
        "gemma2:27b": 14.6,
        "gemma3:1b": 0.76,
        "gemma3:4b": 3.1,
        "gemma3:12b": 7.6,
        "gemma3:27b": 15.9,
        "phi3:3.8b": 2.0,
        "phi4:14b": 8.5,
        "deepseek-r1:1.5b": 1.0,
        "deepseek-r1:7b": 4.4,
        "deepseek-r1:8b": 4.6,
        "deepseek-r1:14b": 8.4,
        "deepseek-r1:32b": 18.5,
        "deepseek-r1:70b": 39.6,
    }
)
