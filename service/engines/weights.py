"""How a model folder says it holds random weights (test and benchmark builds).

The builders in `service.measure.devmodels` write the marker; backends read it so that every
output of such a model is labelled (`random_model` flag): it is not a translation.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["MARKER_FILE", "RANDOM_WEIGHTS_KEY", "is_random_model"]

MARKER_FILE = "PASSEUR_RANDOM_MODEL.txt"
# Also set in such a model's config.json, so that a copy without the marker file is known.
RANDOM_WEIGHTS_KEY = "passeur_random_weights"


def is_random_model(path: str | Path) -> bool:
    """Tell whether the model folder `path` holds random weights built for tests or benchmarks.

    True if the folder has the `PASSEUR_RANDOM_MODEL.txt` marker or its config.json sets
    `"passeur_random_weights": true`; False for anything else, missing folders included.
    """
    folder = Path(path)
    if (folder / MARKER_FILE).is_file():
        return True
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and config.get(RANDOM_WEIGHTS_KEY) is True
