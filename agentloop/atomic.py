"""Writing a file so that a crash leaves either the old file or the new one, never half.

Every artefact agentloop writes (trees, datasets, state, checkpoints' bookkeeping)
goes through `write_atomic`: the text goes to `NAME.tmp` beside the target,
then one `os.replace` puts it in place.

Example:
    >>> write_atomic(Path("runs/x/state.json"), json.dumps(state))
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write `text` to `path` through a temporary file and a rename; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
    return path


def write_json_atomic(path: str | os.PathLike, data: Any) -> Path:
    """`write_atomic` of `json.dumps(data)`."""
    return write_atomic(path, json.dumps(data))
