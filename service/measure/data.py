"""Where the evaluation data lives (FLORES-200, OrangeSum, CNN/DM and XSum samples).

``PASSEUR_EVAL_DATA`` names the folder; otherwise it is ``../shared/data`` beside the
checkout. Commands that need it say so when it is missing; tests skip.
"""

from __future__ import annotations

import os
from pathlib import Path

EVAL_DATA_ENV = "PASSEUR_EVAL_DATA"
DEFAULT_EVAL_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def eval_data_dir() -> Path:
    """The evaluation data folder (it may not exist)."""
    env = os.environ.get(EVAL_DATA_ENV)
    return Path(env) if env else DEFAULT_EVAL_DATA


# FLORES-200 devtest file stems by ISO 639-1 code (``flores200_devtest/<stem>.devtest``).
FLORES_FILES = {
    "fr": "fra_Latn",
    "en": "eng_Latn",
    "de": "deu_Latn",
    "es": "spa_Latn",
    "it": "ita_Latn",
    "pt": "por_Latn",
    "nl": "nld_Latn",
    "ca": "cat_Latn",
    "ro": "ron_Latn",
    # Outside the nine configured languages: what detection must name, not relabel.
    "ar": "arb_Arab",
    "cs": "ces_Latn",
    "da": "dan_Latn",
    "el": "ell_Grek",
    "fi": "fin_Latn",
    "hu": "hun_Latn",
    "id": "ind_Latn",
    "ja": "jpn_Jpan",
    "pl": "pol_Latn",
    "ru": "rus_Cyrl",
    "sv": "swe_Latn",
    "tr": "tur_Latn",
    "uk": "ukr_Cyrl",
    "vi": "vie_Latn",
    "zh": "zho_Hans",
}
