"""A small byte-level BPE tokenizer trained locally on the domain corpus (no hub download).

Design choices (measured on the synthetic domain, see the models report):
- byte-level pre-tokenization, so any text round-trips exactly through encode/decode, newline
  included (solutions are newline-separated steps), and unseen words fall back to characters;
- every digit is its own token, so a tiny model can learn column arithmetic;
- special tokens `<pad>`, `<s>` (bos), `</s>` (eos), `<unk>`, `<step>` (the PRM's step separator);
- `<s>` is prepended by the post-processor when `add_special_tokens=True` (the default);
- padding side is **right** (training batches: positions stay 0..n-1 without position ids).
  Batched sampling in `aprm.models.solver.sample_solutions` left-pads by itself, so callers
  never need to flip `padding_side`.
"""

from __future__ import annotations

import os
import string
from pathlib import Path
from typing import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

PAD_TOKEN = "<pad>"
BOS_TOKEN = "<s>"
EOS_TOKEN = "</s>"
UNK_TOKEN = "<unk>"
STEP_TOKEN = "<step>"
SPECIAL_TOKENS = (PAD_TOKEN, BOS_TOKEN, EOS_TOKEN, UNK_TOKEN, STEP_TOKEN)

# Printable ASCII plus newline/tab are always in the alphabet, so a corpus that lacks, say, "%"
# still encodes it as one known symbol rather than <unk>.
_BASE_CHARS = string.printable


def _byte_level() -> pre_tokenizers.ByteLevel:
    return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)


def _base_alphabet() -> list[str]:
    """The byte-level symbols of the base characters (e.g. space -> 'Ġ', newline -> 'Ċ')."""
    byte_level = _byte_level()
    return sorted({piece for ch in _BASE_CHARS for piece, _ in byte_level.pre_tokenize_str(ch)})


def train_tokenizer(texts: Iterable[str], vocab_size: int = 384) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on `texts` (questions and solution steps of the training split)."""
    if vocab_size < len(SPECIAL_TOKENS) + len(_BASE_CHARS):
        raise ValueError(
            f"vocab_size={vocab_size} is too small: need at least "
            f"{len(SPECIAL_TOKENS) + len(_BASE_CHARS)} for specials and the base alphabet"
        )
    core = Tokenizer(models.BPE(unk_token=UNK_TOKEN))
    core.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), _byte_level()]
    )
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=_base_alphabet(),
        show_progress=False,
    )
    core.train_from_iterator((str(text) for text in texts), trainer=trainer)
    bos_id = core.token_to_id(BOS_TOKEN)
    core.post_processor = processors.TemplateProcessing(
        single=f"{BOS_TOKEN} $A",
        pair=f"{BOS_TOKEN} $A $B",
        special_tokens=[(BOS_TOKEN, bos_id)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token=PAD_TOKEN,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        unk_token=UNK_TOKEN,
        additional_special_tokens=[STEP_TOKEN],
        padding_side="right",
        clean_up_tokenization_spaces=False,
    )


def save_tokenizer(tok: PreTrainedTokenizerFast, path: str | os.PathLike) -> Path:
    """Save into the local folder `path` (created if needed)."""
    target = Path(path)
    target.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(str(target))
    return target


def load_tokenizer(path: str | os.PathLike) -> PreTrainedTokenizerFast:
    """Load a tokenizer saved by `save_tokenizer` (local folder only, never the hub)."""
    folder = Path(path)
    if not (folder / "tokenizer.json").is_file():
        raise FileNotFoundError(f"no tokenizer.json in tokenizer folder {folder}")
    return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
