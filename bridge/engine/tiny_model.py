"""Random-weight MusicGen checkpoints built from configs: no download, real classes.

``build_tiny_model`` makes a 0.75M-parameter (4 MB) model that loads with ``from_pretrained``
like any hub checkpoint, so tests, demos and ``--model DIR`` run the exact loading and
generation code a real model does, offline, in a fraction of a second. It makes noise, not
music.

``build_small_architecture`` makes the full facebook/musicgen-small architecture (587M
parameters) with random weights: same compute per step as the real model, for benchmarks.
Its configs are musicgen-small's own config.json values (t5-base text encoder, EnCodec 32 kHz,
24-layer decoder), so no weights are fetched.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import torch
from transformers import (
    ByT5Tokenizer,
    EncodecConfig,
    EncodecFeatureExtractor,
    GenerationConfig,
    MusicgenConfig,
    MusicgenDecoderConfig,
    MusicgenForConditionalGeneration,
    MusicgenMelodyConfig,
    MusicgenMelodyDecoderConfig,
    MusicgenMelodyForConditionalGeneration,
    MusicgenProcessor,
    PreTrainedModel,
    T5Config,
)

from bridge.engine.melody import ChromaExtractor, MelodyProcessor

log = logging.getLogger(__name__)

SAMPLE_RATE = 32_000
# Decoder token id that starts every codebook stream and pads the delay pattern; one past the
# last code, so it can never be sampled.
CODEBOOK_SIZE = 2048
PAD_TOKEN_ID = CODEBOOK_SIZE
# MusicGen's trained window: 1500 steps at 50 Hz = 30 s (musicgen-small's generation_config).
MAX_LENGTH = 1500

# facebook/musicgen-small config.json, "audio_encoder" (EnCodec 32 kHz). Hop 8*5*4*4 = 640
# samples -> 50 frames/s; num_quantizers = 1000*2.2 // (50 * log2(2048)) = 4 codebooks.
_ENCODEC_32KHZ = dict(
    sampling_rate=SAMPLE_RATE, audio_channels=1, upsampling_ratios=[8, 5, 4, 4],
    target_bandwidths=[2.2], codebook_size=CODEBOOK_SIZE, codebook_dim=128, hidden_size=128,
    num_filters=64, num_residual_layers=1, num_lstm_layers=2, kernel_size=7,
    last_kernel_size=7, residual_kernel_size=3, dilation_growth_rate=2, compress=2,
    norm_type="weight_norm", normalize=False, pad_mode="reflect", trim_right_ratio=1.0,
    use_causal_conv=False, use_conv_shortcut=False, chunk_length_s=None, overlap=None,
)
# facebook/musicgen-small config.json, "text_encoder" (t5-base, encoder only).
_T5_BASE = dict(
    vocab_size=32128, d_model=768, d_kv=64, d_ff=3072, num_layers=12, num_decoder_layers=12,
    num_heads=12, relative_attention_num_buckets=32, relative_attention_max_distance=128,
    dropout_rate=0.1, layer_norm_epsilon=1e-6, feed_forward_proj="relu", pad_token_id=0,
    eos_token_id=1, decoder_start_token_id=0,
)
# facebook/musicgen-small config.json, "decoder".
_SMALL_DECODER = dict(
    vocab_size=CODEBOOK_SIZE, max_position_embeddings=2048, num_hidden_layers=24,
    hidden_size=1024, ffn_dim=4096, num_attention_heads=16, num_codebooks=4,
    activation_function="gelu", dropout=0.1, attention_dropout=0.0, activation_dropout=0.0,
    layerdrop=0.0, scale_embedding=False, tie_word_embeddings=False,
    pad_token_id=PAD_TOKEN_ID, bos_token_id=PAD_TOKEN_ID,
)

# The tiny model keeps everything that shapes generation (rates, codebooks, delay pattern,
# vocabulary, window) and shrinks only widths and depths.
_TINY_ENCODEC = {**_ENCODEC_32KHZ, "codebook_dim": 16, "hidden_size": 16, "num_filters": 4,
                 "num_lstm_layers": 1}
_TINY_T5 = {**_T5_BASE, "vocab_size": 384, "d_model": 32, "d_kv": 8, "d_ff": 64,
            "num_layers": 2, "num_decoder_layers": 2, "num_heads": 4,
            "relative_attention_num_buckets": 8, "relative_attention_max_distance": 32}
_TINY_DECODER = {**_SMALL_DECODER, "num_hidden_layers": 2, "hidden_size": 32, "ffn_dim": 64,
                 "num_attention_heads": 4}


def tiny_config(*, melody: bool = False) -> MusicgenConfig | MusicgenMelodyConfig:
    """Configs of the tiny model: musicgen-small's rates, codebooks and window, tiny widths."""
    return _config(_TINY_T5, _TINY_ENCODEC, _TINY_DECODER, melody=melody)


def small_config() -> MusicgenConfig:
    """facebook/musicgen-small's configuration (587M parameters)."""
    config = _config(_T5_BASE, _ENCODEC_32KHZ, _SMALL_DECODER, melody=False)
    assert isinstance(config, MusicgenConfig)
    return config


def build_tiny_model(path: str | Path, *, melody: bool = False, seed: int = 0) -> Path:
    """Build a small random-weight MusicGen (or MusicGen-Melody) checkpoint into ``path``.

    The same ``seed`` always builds the same weights. Returns the checkpoint directory.
    """
    return _build(Path(path), tiny_config(melody=melody), seed=seed, what="tiny")


def build_small_architecture(path: str | Path, *, seed: int = 0) -> Path:
    """Build the full musicgen-small architecture with random weights into ``path`` (2.4 GB)."""
    return _build(Path(path), small_config(), seed=seed, what="musicgen-small architecture")


def _config(text: dict[str, Any], audio: dict[str, Any], decoder: dict[str, Any], *,
            melody: bool) -> MusicgenConfig | MusicgenMelodyConfig:
    if melody:
        return MusicgenMelodyConfig(text_encoder=T5Config(**text),
                                    audio_encoder=EncodecConfig(**audio),
                                    decoder=MusicgenMelodyDecoderConfig(**decoder))
    return MusicgenConfig(text_encoder=T5Config(**text), audio_encoder=EncodecConfig(**audio),
                          decoder=MusicgenDecoderConfig(**decoder))


def _build(path: Path, config: MusicgenConfig | MusicgenMelodyConfig, *, seed: int,
           what: str) -> Path:
    melody = isinstance(config, MusicgenMelodyConfig)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        # save_pretrained would silently replace the weights of whatever checkpoint is there.
        raise FileExistsError(f"{path} already exists and is not an empty folder; choose a new "
                              "folder for the model or delete this one first")
    # Built before the weights, so a missing dependency leaves nothing half-written.
    processor = _processor(melody)
    # fork_rng: building a model must not move the caller's global random stream.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model_class: Any = (MusicgenMelodyForConditionalGeneration if melody
                            else MusicgenForConditionalGeneration)
        model: PreTrainedModel = model_class(config)
        _randomize_codebooks(model, seed)
    model.eval()
    model.generation_config = GenerationConfig(
        do_sample=True, top_k=250, guidance_scale=3.0, max_length=MAX_LENGTH,
        decoder_start_token_id=PAD_TOKEN_ID, pad_token_id=PAD_TOKEN_ID,
        bos_token_id=PAD_TOKEN_ID,
    )
    # Saved beside the target and renamed into place: an interrupted build (the 2.4 GB one
    # takes a while) never leaves a folder that looks like a checkpoint but fails to load.
    partial = path.with_name(f".{path.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        model.save_pretrained(partial)
        processor.save_pretrained(partial)
        if path.exists():
            path.rmdir()
        partial.rename(path)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    params = sum(p.numel() for p in model.parameters())
    log.info("built %s MusicGen%s (%.2fM random parameters) in %s",
             what, "-Melody" if melody else "", params / 1e6, path)
    return path


def _randomize_codebooks(model: PreTrainedModel, seed: int) -> None:
    """Fill the EnCodec codebooks the way EnCodec training starts them: from encoder outputs.

    They start as zeros, so every code would decode to the same sound and every audio prompt
    would encode to code 0: a test on such a model could not fail. Plain N(0, 1) entries are
    no better: a random encoder's outputs are small and nearly constant, so one entry is
    nearest to all of them. Entries drawn from (jittered) encoder outputs of noise bursts,
    layer by layer on the residuals, make different audio encode to different codes and
    different codes decode to different audio.
    """
    generator = torch.Generator().manual_seed(seed)
    encodec: Any = model.audio_encoder  # nn.Module attributes are untyped
    rate, channels = encodec.config.sampling_rate, encodec.config.audio_channels
    bursts = [torch.randn((1, channels, rate), generator=generator) * gain
              for gain in (0.05, 0.2, 0.5, 1.0)]
    # Integrated noise: low-frequency content, which white noise alone barely covers.
    bursts.append(torch.cumsum(bursts[-1], dim=-1) / rate**0.5)
    with torch.no_grad():
        latents = torch.cat([encodec.encoder(b.to(encodec.dtype)).float() for b in bursts],
                            dim=-1)
    residual = latents.permute(0, 2, 1).reshape(-1, latents.shape[1])  # (frames, dim)
    for layer in encodec.quantizer.layers:
        codebook = layer.codebook
        size = codebook.embed.shape[0]
        picks = residual[torch.randint(len(residual), (size,), generator=generator)]
        jitter = torch.randn(picks.shape, generator=generator) * residual.std(dim=0) * 0.5
        embed = (picks + jitter).to(codebook.embed.dtype)
        codebook.embed.copy_(embed)
        codebook.embed_avg.copy_(embed)
        residual = residual - embed[codebook.quantize(residual.to(embed.dtype))].float()


def _processor(melody: bool) -> MusicgenProcessor | MelodyProcessor:
    # ByT5 tokenizes bytes and needs no vocabulary file, so nothing is downloaded; any text
    # maps to ids below 384, inside every text encoder vocabulary used here.
    tokenizer = ByT5Tokenizer()
    if melody:
        # Our chroma extractor: transformers' own needs torchaudio. The files it writes are
        # the ones MusicgenMelodyProcessor reads, so both load this checkpoint.
        return MelodyProcessor(ChromaExtractor(sampling_rate=SAMPLE_RATE), tokenizer)
    # Left padding as in the released checkpoints: audio prompts end where generation starts.
    return MusicgenProcessor(
        feature_extractor=EncodecFeatureExtractor(feature_size=1, sampling_rate=SAMPLE_RATE,
                                                  padding_side="left"),
        tokenizer=tokenizer)
