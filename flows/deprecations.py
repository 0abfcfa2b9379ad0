"""Renamed command-line names, kept working for one release with a warning.

- the config group `game` is now `method` (`static` or `likelihood` is not a game):
  `game=aprm` -> `method=aprm`, `game.rounds=2` -> `method.rounds=2`, `+game.x=1` -> `+method.x=1`;
- `experiment=default` is now `experiment=benchmark` (the experiment is not the default: plain
  `aprm` runs `method=static` with the base config).

`translate_overrides` is applied to the CLI's argv (printed as `aprm: ...` lines) and to the
overrides a library caller passes (`flows.config.compose_config`: a FutureWarning), so both
spellings compose the same config and the same hashes.
"""

from __future__ import annotations

import re
from typing import Iterable

RENAMED_GROUPS = {"game": "method"}
RENAMED_OPTIONS = {("experiment", "default"): "benchmark"}
REMOVAL = "the old name will be removed in the next release"
# an override's prefix (+, ++, ~), its key and the rest (`=value`, or nothing for a deletion)
_OVERRIDE_RE = re.compile(r"^(?P<prefix>\+\+|\+|~)?(?P<key>[A-Za-z_][\w.]*)(?P<rest>(=.*)?)$", re.DOTALL)


def translate_override(override: str) -> tuple[str, str | None]:
    """(the override in current names, a deprecation message or None)."""
    match = _OVERRIDE_RE.match(override)
    if not match:
        return override, None
    prefix, key, rest = match.group("prefix") or "", match.group("key"), match.group("rest")
    head, _, tail = key.partition(".")
    if head in RENAMED_GROUPS:
        new_key = RENAMED_GROUPS[head] + (f".{tail}" if tail else "")
        new = f"{prefix}{new_key}{rest}"
        return new, f"`{prefix}{key}` is deprecated: use `{prefix}{new_key}` ({REMOVAL})"
    value = rest[1:]
    if rest and (key, value) in RENAMED_OPTIONS:
        new = f"{prefix}{key}={RENAMED_OPTIONS[key, value]}"
        return new, f"`{override}` is deprecated: use `{new}` ({REMOVAL})"
    return override, None


def translate_overrides(overrides: Iterable[str]) -> tuple[list[str], list[str]]:
    """(every override in current names, a deprecation message per renamed one)."""
    out, messages = [], []
    for override in overrides:
        new, message = translate_override(override)
        out.append(new)
        if message:
            messages.append(message)
    return out, messages
