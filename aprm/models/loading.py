"""Load a model directory written by this project (weights + tokenizer), local files only."""

from __future__ import annotations

import threading
from pathlib import Path

# transformers' from_pretrained/from_config are not thread-safe (model init on the meta device
# can leak into a concurrent load: "Cannot copy out of meta tensor"); stages run on a thread pool.
MODEL_INIT_LOCK = threading.RLock()


def _check_dir(path: str | Path) -> Path:
    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"no saved model in {folder} (config.json missing)")
    return folder


def load_causal_lm(path: str | Path):
    """(model, tokenizer) for a solver or generator directory, the model on the compute device
    (CUDA when torch sees it: sampling and scoring run where training did)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from aprm.models.sampling import pick_device

    folder = _check_dir(path)
    with MODEL_INIT_LOCK:
        model = AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True)
        return model.to(pick_device()), AutoTokenizer.from_pretrained(str(folder), local_files_only=True)


def load_prm(path: str | Path):
    """(model, tokenizer) for a token-classification PRM directory, the model on the compute device."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from aprm.models.sampling import pick_device

    folder = _check_dir(path)
    with MODEL_INIT_LOCK:
        model = AutoModelForTokenClassification.from_pretrained(str(folder), local_files_only=True)
        return model.to(pick_device()), AutoTokenizer.from_pretrained(str(folder), local_files_only=True)


def load_saved_tokenizer(path: str | Path):
    """Only the tokenizer of a saved model directory (all roles share the solver's)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(_check_dir(path)), local_files_only=True)
