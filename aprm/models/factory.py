"""One factory for every model role: a tiny model built from config, or an HF id/local path.

Roles: "solver" and "generator" are causal LMs; "prm" is a 2-label token classifier (a label is
read at the `<step>` token after each step). model_cfg is a plain dict (Hydra's `model` group),
with the keys of `TinyModelConfig` (kind tiny: the architecture, per-role overrides in `roles`, a
saved `tokenizer` folder) or `HfModelConfig` (kind hf: an id or path per role) in
aprm.group_configs. Both kinds take "prm_init": "fresh" (the PRM as configured) or "solver" (the
trained solver's weights under a new 2-label head: `build_prm`).

Missing tiny keys take `TinyModelConfig`'s defaults (the tuned sizes, the same a composed run
gets); unknown keys are rejected so a typo does not silently fall back to a default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoModelForTokenClassification,
    AutoTokenizer,
    GPT2Config,
    LlamaConfig,
    PretrainedConfig,
    PreTrainedModel,
    Qwen2Config,
)

from aprm.group_configs import TINY_ARCH_KEYS, TinyModelConfig
from aprm.models.loading import MODEL_INIT_LOCK
from aprm.models.references import PRM_INITS, ROLES, ModelConfigError, hf_reference, is_offline
from aprm.models.tokenizer import load_tokenizer
from aprm.structured import build_config

PRM_NUM_LABELS = 2  # 0 = incorrect step, 1 = correct step

# A tiny model's architecture when no key is given: TinyModelConfig's (aprm.group_configs).
TINY_DEFAULTS: dict[str, Any] = {key: getattr(TinyModelConfig, key) for key in TINY_ARCH_KEYS}


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ModelConfigError(f"model role must be one of {ROLES}, got {role!r}")


def tiny_settings(role: str, model_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Effective tiny settings for `role`: defaults < model_cfg < model_cfg.roles[role]."""
    _check_role(role)
    try:
        return build_config(TinyModelConfig, model_cfg, "model").role_settings(role)
    except ValueError as err:
        raise ModelConfigError(str(err)) from None


def _tiny_config(settings: Mapping[str, Any], tokenizer) -> PretrainedConfig:
    special = {
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "tie_word_embeddings": bool(settings["tie_word_embeddings"]),
        "attn_implementation": settings["attention"],
    }
    dropout = float(settings["dropout"])
    if settings["arch"] == "gpt2":
        return GPT2Config(
            n_embd=settings["hidden_size"], n_layer=settings["num_layers"],
            n_head=settings["num_heads"], n_inner=settings["intermediate_size"],
            n_positions=settings["max_position_embeddings"],
            resid_pdrop=dropout, embd_pdrop=dropout, attn_pdrop=dropout, **special,
        )
    config_cls = LlamaConfig if settings["arch"] == "llama" else Qwen2Config
    return config_cls(
        hidden_size=settings["hidden_size"], num_hidden_layers=settings["num_layers"],
        num_attention_heads=settings["num_heads"], num_key_value_heads=settings["num_heads"],
        intermediate_size=settings["intermediate_size"],
        max_position_embeddings=settings["max_position_embeddings"],
        attention_dropout=dropout, **special,
    )


def _model_class(role: str):
    return AutoModelForTokenClassification if role == "prm" else AutoModelForCausalLM


def _load_hf(role: str, ref: str, loader, **kwargs):
    try:
        return loader.from_pretrained(ref, local_files_only=is_offline(), **kwargs)
    except (OSError, ValueError) as err:
        where = "offline (HF_HUB_OFFLINE=1)" if is_offline() else "locally or on the hub"
        raise ModelConfigError(f"model.{role}: cannot load {ref!r} {where}: {err}") from err


def build_model(role: str, model_cfg: Mapping[str, Any], tokenizer,
                seed: int = 0) -> PreTrainedModel:
    """Build (tiny) or load (hf) the model for `role`; tiny init is seeded by `seed`."""
    _check_role(role)
    kind = model_cfg.get("kind", "tiny")
    if kind == "tiny":
        config = _tiny_config(tiny_settings(role, model_cfg), tokenizer)
        if role == "prm":
            config.num_labels = PRM_NUM_LABELS
        with MODEL_INIT_LOCK:
            torch.manual_seed(seed)
            return _model_class(role).from_config(config)
    if kind != "hf":
        raise ModelConfigError(f"model.kind must be 'tiny' or 'hf', got {kind!r}")
    ref = hf_reference(role, model_cfg)
    extra = {"num_labels": PRM_NUM_LABELS} if role == "prm" else {}
    with MODEL_INIT_LOCK:
        torch.manual_seed(seed)  # a fresh PRM classification head is initialised here
        model = _load_hf(role, ref, _model_class(role), **extra)
    if tokenizer is not None and len(tokenizer) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer))  # e.g. after adding <step>
    if model.config.pad_token_id is None and tokenizer is not None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model


def build_prm(model_cfg: Mapping[str, Any], tokenizer, solver_dir: str | Path | None,
              seed: int = 0) -> PreTrainedModel:
    """The PRM a training stage starts from. `model.prm_init: solver` reuses the trained solver's
    body (it already reads the problems and does the arithmetic a verifier must check) under a
    fresh 2-label head; its sizes are the solver's, `model.roles.prm` does not apply."""
    init = model_cfg.get("prm_init", "fresh")
    if init not in PRM_INITS:
        raise ModelConfigError(f"model.prm_init must be one of {PRM_INITS}, got {init!r}")
    if init == "fresh":
        return build_model("prm", model_cfg, tokenizer, seed=seed)
    if solver_dir is None or not (Path(solver_dir) / "config.json").is_file():
        raise ModelConfigError(f"model.prm_init=solver: no trained solver in {solver_dir}")
    with MODEL_INIT_LOCK:
        torch.manual_seed(seed)  # the new head's init
        return AutoModelForTokenClassification.from_pretrained(
            str(solver_dir), num_labels=PRM_NUM_LABELS, local_files_only=True)


def load_tokenizer_for(model_cfg: Mapping[str, Any], role: str):
    """The tokenizer for `role`: kind hf loads it beside the model; kind tiny needs
    `model.tokenizer` (a folder saved by `save_tokenizer`), since tiny tokenizers are trained."""
    _check_role(role)
    kind = model_cfg.get("kind", "tiny")
    if kind == "tiny":
        path = model_cfg.get("tokenizer")
        if not path:
            raise ModelConfigError(
                "model.tokenizer: kind 'tiny' has no pretrained tokenizer; train one with "
                "aprm.models.tokenizer.train_tokenizer or set model.tokenizer to a saved folder"
            )
        return load_tokenizer(path)
    if kind != "hf":
        raise ModelConfigError(f"model.kind must be 'tiny' or 'hf', got {kind!r}")
    ref = hf_reference(role, model_cfg)
    if Path(ref).is_dir() and (Path(ref) / "tokenizer.json").is_file():
        tok = load_tokenizer(ref)
    else:
        tok = _load_hf(role, ref, AutoTokenizer)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token  # generate needs a pad id; eos is the usual stand-in
    return tok
