"""The [model] config section: which checkpoint, on which device, with which engine."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bridge.engine.device_names import DEVICE_HELP, check_device_name
from bridge.schema import Check, Flag, Section, Text, choice


class ModelSettings(Section):
    name: Text = Field("facebook/musicgen-small", description=(
        "Hugging Face hub id or a local directory saved with save_pretrained"))
    device: Annotated[str, Check(check_device_name, {
        "type": "string", "pattern": "^(auto|cpu|mps|cuda(:[0-9]{1,3})?)$"})] = Field(
        "auto", description=f"{DEVICE_HELP}; auto: cuda, then mps, then cpu")
    engine: Annotated[str, choice("auto", "transformers", "fast")] = Field("auto", description=(
        "fast: the project's own decode loop (same output, faster); transformers: the "
        "reference generate(); auto: fast on the CPU, transformers on GPUs until measured"))
    cpu_int8: Flag = Field(False, description=(
        "fast engine on CPU: weight-only int8 decoder linears (about 2x faster per step)"))
    backend: Annotated[str, choice("local", "remote")] = Field("local", description=(
        "local: generate on this machine; remote: on a `musicgen-bridge worker` elsewhere "
        "(docs/cluster.md)"))
    worker_url: Text = Field("http://127.0.0.1:9100", description=(
        'the worker, with backend = "remote" (an SSH tunnel\'s local end, or a LAN address)'))
    worker_token: Text = Field("", description=(
        "bearer token the worker was started with (required unless it listens on loopback); "
        "empty: the MUSICGEN_BRIDGE_WORKER_TOKEN environment variable"))
