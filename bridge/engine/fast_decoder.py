"""MusicGen's decoder as one function per step over the model's own weights.

transformers' decoder grows a dynamic KV cache by concatenation (every step copies the whole
cache), rebuilds masks and re-projects the text conditioning every step. Here the same math
runs on preallocated buffers: a static self-attention cache written in place, cross-attention
keys and values computed once per request, and nothing allocated that depends on the step.

Two forms of the step share one layer function:
- ``forward``: eager, Python ints for positions; also the multi-token prefill (audio prompt
  or prefix codes). Used on the CPU.
- ``forward_static``: fixed shapes, the position in a device tensor, attention over a fixed
  bucket of cache columns behind a mask. Nothing in it depends on host values, so a CUDA graph
  can capture it (``fast_cuda``); on the CPU the tests run it eagerly to prove it computes the
  same tokens.

Optional on the CPU: the decoder layers' linear weights as int8 (per output channel,
symmetric), activations quantized per call (PyTorch's dynamic quantization kernels, fbgemm):
a quarter of the float32 weight traffic per step, which is what bounds a step on a CPU.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

Linear = Callable[[torch.Tensor], torch.Tensor]


def _float_linear(module: nn.Linear) -> Linear:
    weight, bias = module.weight, module.bias
    return lambda x: F.linear(x, weight, bias)


def int8_linear(module: nn.Linear) -> Linear:
    """``module`` with its weight quantized to int8 per output channel (the model is not
    changed). RuntimeError when this torch build has no dynamic quantization."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao.quantization is deprecated, still works
            from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear
            from torch.ao.quantization import per_channel_dynamic_qconfig

            float_view = nn.Linear(module.in_features, module.out_features,
                                   bias=module.bias is not None, device="meta")
            float_view.weight = module.weight  # shared, not copied
            float_view.bias = module.bias
            # qconfig is a free attribute that the quantization API reads, not a declared field.
            setattr(float_view, "qconfig", per_channel_dynamic_qconfig)  # noqa: B010
            quantized: Linear = DynamicLinear.from_float(float_view)
    except (ImportError, AttributeError, AssertionError) as err:
        raise RuntimeError(f"this torch build has no dynamic int8 linear layers ({err})") from err
    return quantized


@dataclass
class _Layer:
    self_norm: nn.LayerNorm
    q: Linear
    k: Linear
    v: Linear
    out: Linear
    cross_norm: nn.LayerNorm
    cross_q: Linear
    cross_k: nn.Linear  # used once per request: kept in float
    cross_v: nn.Linear
    cross_out: Linear
    ffn_norm: nn.LayerNorm
    fc1: Linear
    fc2: Linear
    activation: Callable[[torch.Tensor], torch.Tensor]


@dataclass
class KVCache:
    """Self-attention keys and values of every layer: (rows, heads, length, head_dim) each."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]

    @property
    def length(self) -> int:
        return int(self.keys[0].shape[2])


@dataclass
class CrossKV:
    """Cross-attention keys and values of every layer, computed once per request, and the
    additive mask over text positions (None: attend to all)."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    mask: torch.Tensor | None

    @property
    def length(self) -> int:
        return int(self.keys[0].shape[2])


class DecoderCore:
    """The decoder of a loaded ``MusicgenForConditionalGeneration``, stepped by hand."""

    def __init__(self, model: Any, *, int8: bool = False) -> None:
        # ``model`` is a transformers MusicGen model: its submodules are reached by attribute,
        # which nn.Module types as ``Tensor | Module``; they are read once here into typed fields.
        lm = model.decoder  # MusicgenForCausalLM
        decoder = lm.model.decoder
        config = model.config.decoder
        self.num_codebooks = int(config.num_codebooks)
        self.hidden = int(config.hidden_size)
        self.heads = int(config.num_attention_heads)
        self.head_dim = self.hidden // self.heads
        self.scaling = self.head_dim ** -0.5
        self.vocab = int(config.vocab_size)
        self.embed: list[torch.Tensor] = [e.weight for e in decoder.embed_tokens]
        self.positions: torch.Tensor = decoder.embed_positions.weights
        self.final_norm: nn.LayerNorm = decoder.layer_norm
        self.lm_heads: list[torch.Tensor] = [h.weight for h in lm.lm_heads]
        self.dtype: torch.dtype = self.final_norm.weight.dtype
        self.device: torch.device = self.final_norm.weight.device
        self.int8 = int8
        # generate's forward projects the text states when widths differ (musicgen-small:
        # t5-base 768 -> 1024) unless the decoder reads them directly.
        text_width = model.config.text_encoder.hidden_size
        self.text_proj: nn.Module | None = (model.enc_to_dec_proj if text_width != self.hidden
                          and config.cross_attention_hidden_size is None else None)
        if int8 and self.device.type != "cpu":
            raise ValueError("int8 decoder layers run on the CPU only")
        linear = int8_linear if int8 else _float_linear
        self.layers = [
            _Layer(self_norm=layer.self_attn_layer_norm, q=linear(layer.self_attn.q_proj),
                   k=linear(layer.self_attn.k_proj), v=linear(layer.self_attn.v_proj),
                   out=linear(layer.self_attn.out_proj),
                   cross_norm=layer.encoder_attn_layer_norm,
                   cross_q=linear(layer.encoder_attn.q_proj),
                   cross_k=layer.encoder_attn.k_proj, cross_v=layer.encoder_attn.v_proj,
                   cross_out=linear(layer.encoder_attn.out_proj),
                   ffn_norm=layer.final_layer_norm, fc1=linear(layer.fc1),
                   fc2=linear(layer.fc2), activation=layer.activation_fn)
            for layer in decoder.layers
        ]

    @property
    def max_positions(self) -> int:
        return int(self.positions.shape[0])

    # -- per request ---------------------------------------------------------------------

    def conditioning(self, text_states: torch.Tensor, text_mask: torch.Tensor,
                     null_rows: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """The cross-attention input generate builds: with ``null_rows`` (guidance from text
        alone) a zero ("null") text row per sample after the real ones, then the width
        projection, then padded positions zeroed. ``text_states``: (rows, tokens, text
        width); ``text_mask``: (rows, tokens). A negative prompt brings its own second half
        of rows instead of the null ones."""
        states, mask = text_states, text_mask
        if null_rows:
            states = torch.concatenate([states, torch.zeros_like(states)], dim=0)
            mask = torch.concatenate([mask, torch.zeros_like(mask)], dim=0)
        if self.text_proj is not None:
            states = self.text_proj(states)
        states = states * mask[..., None]
        return states, mask

    def cross_kv(self, states: torch.Tensor, mask: torch.Tensor,
                 capacity: int | None = None) -> CrossKV:
        """Keys and values of every layer's cross-attention over ``states`` (rows, tokens,
        hidden), optionally zero-padded to ``capacity`` tokens behind the mask."""
        rows, tokens, _ = states.shape
        length = capacity or tokens
        if length < tokens:
            raise ValueError(f"{tokens} text tokens do not fit a capacity of {length}")
        keys, values = [], []
        for layer in self.layers:
            k = torch.zeros(rows, self.heads, length, self.head_dim, dtype=self.dtype,
                            device=self.device)
            v = torch.zeros_like(k)
            k[:, :, :tokens] = self._split(layer.cross_k(states))
            v[:, :, :tokens] = self._split(layer.cross_v(states))
            keys.append(k)
            values.append(v)
        full = torch.zeros(rows, length, dtype=torch.bool, device=self.device)
        full[:, :tokens] = mask.bool()
        if bool(full.all()):
            return CrossKV(keys, values, None)
        # Additive rather than boolean: a fully masked row (the null conditioning) then
        # averages zero values to exactly zero instead of producing NaN.
        additive = torch.zeros(rows, 1, 1, length, dtype=self.dtype, device=self.device)
        additive.masked_fill_(~full[:, None, None, :], torch.finfo(self.dtype).min)
        return CrossKV(keys, values, additive)

    def new_cache(self, rows: int, length: int) -> KVCache:
        shape = (rows, self.heads, length, self.head_dim)
        return KVCache(
            keys=[torch.zeros(shape, dtype=self.dtype, device=self.device) for _ in self.layers],
            values=[torch.zeros(shape, dtype=self.dtype, device=self.device) for _ in self.layers])

    # -- steps ---------------------------------------------------------------------------

    def forward(self, ids: torch.Tensor, start: int, cache: KVCache, cross: CrossKV,
                guided: bool) -> torch.Tensor:
        """Logits (rows * codebooks, vocab) for the last of ``ids`` (batch * codebooks, T),
        which occupy cache columns ``start .. start + T - 1`` (T > 1 only from column 0)."""
        tokens = ids.shape[-1]
        if tokens > 1 and start != 0:
            raise ValueError("a multi-token forward (prefill) must start at column 0")
        hidden = self._embed(ids, guided)
        hidden = hidden + self.positions[start:start + tokens]
        end = start + tokens

        def attend(layer_index: int, k: torch.Tensor, v: torch.Tensor,
                   q: torch.Tensor) -> torch.Tensor:
            keys, values = cache.keys[layer_index], cache.values[layer_index]
            keys[:, :, start:end] = k
            values[:, :, start:end] = v
            return F.scaled_dot_product_attention(q, keys[:, :, :end], values[:, :, :end],
                                                  is_causal=tokens > 1, scale=self.scaling)

        hidden = self._layers(hidden, attend, cross, cross.length)
        return self._logits(hidden[:, -1])

    def forward_static(self, ids: torch.Tensor, position: torch.Tensor, cache: KVCache,
                       cross: CrossKV, guided: bool, kv_len: int,
                       text_len: int) -> torch.Tensor:
        """One step with shapes fixed by (``kv_len``, ``text_len``) and the column in a
        one-element device tensor ``position``: capturable in a CUDA graph. Attends to cache
        columns ``0 .. position`` of the first ``kv_len`` and to the first ``text_len`` text
        positions; logits in the model's dtype."""
        hidden = self._embed(ids, guided)  # (rows, 1, hidden)
        hidden = hidden + self.positions.index_select(0, position)
        visible = (torch.arange(kv_len, device=position.device) <= position).view(1, 1, 1, -1)

        def attend(layer_index: int, k: torch.Tensor, v: torch.Tensor,
                   q: torch.Tensor) -> torch.Tensor:
            keys, values = cache.keys[layer_index], cache.values[layer_index]
            keys.index_copy_(2, position, k)
            values.index_copy_(2, position, v)
            return F.scaled_dot_product_attention(q, keys[:, :, :kv_len],
                                                  values[:, :, :kv_len], attn_mask=visible,
                                                  scale=self.scaling)

        hidden = self._layers(hidden, attend, cross, text_len)
        return self._logits(hidden[:, -1], to_float=False)

    # -- pieces --------------------------------------------------------------------------

    def _embed(self, ids: torch.Tensor, guided: bool) -> torch.Tensor:
        grid = ids.reshape(-1, self.num_codebooks, ids.shape[-1])
        if guided:  # generate feeds the same tokens to the null-conditioned rows
            grid = grid.repeat(2, 1, 1)
        hidden = F.embedding(grid[:, 0], self.embed[0])
        for k in range(1, self.num_codebooks):  # the order generate sums them in
            hidden = hidden + F.embedding(grid[:, k], self.embed[k])
        return hidden

    def _layers(self, hidden: torch.Tensor, attend: Callable[..., torch.Tensor],
                cross: CrossKV, text_len: int) -> torch.Tensor:
        cross_mask = None if cross.mask is None else cross.mask[..., :text_len]
        for index, layer in enumerate(self.layers):
            residual = hidden
            x = layer.self_norm(hidden)
            q = self._split(layer.q(x))
            attn = attend(index, self._split(layer.k(x)), self._split(layer.v(x)), q)
            hidden = residual + layer.out(self._merge(attn))

            residual = hidden
            x = layer.cross_norm(hidden)
            q = self._split(layer.cross_q(x))
            attn = F.scaled_dot_product_attention(
                q, cross.keys[index][:, :, :text_len], cross.values[index][:, :, :text_len],
                attn_mask=cross_mask, scale=self.scaling)
            hidden = residual + layer.cross_out(self._merge(attn))

            residual = hidden
            x = layer.ffn_norm(hidden)
            hidden = residual + layer.fc2(layer.activation(layer.fc1(x)))
        normed: torch.Tensor = self.final_norm(hidden)
        return normed

    def _logits(self, last: torch.Tensor, *, to_float: bool = True) -> torch.Tensor:
        """(rows, hidden) -> (rows * codebooks, vocab), codebooks of a row adjacent, as the
        causal LM head stacks them."""
        logits = torch.stack([F.linear(last, w) for w in self.lm_heads], dim=1)
        logits = logits.reshape(-1, self.vocab)
        return logits.float() if to_float else logits

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        rows, tokens, _ = x.shape
        return x.view(rows, tokens, self.heads, self.head_dim).transpose(1, 2)

    def _merge(self, x: torch.Tensor) -> torch.Tensor:
        rows, _, tokens, _ = x.shape
        return x.transpose(1, 2).reshape(rows, tokens, self.hidden)
