"""Keep every library Hearth uses from reaching the network.

Called once, before any third-party import that could phone home: hub clients go offline,
telemetry is switched off. Values are forced, not defaulted: privacy is not a preference.
"""

from __future__ import annotations

import os

OFFLINE_ENV = {
    # Hugging Face hub, transformers, datasets, sentence-transformers
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    # unstructured (reads DO_NOT_TRACK at import), scarf analytics, general opt-outs
    "DO_NOT_TRACK": "true",
    "SCARF_NO_ANALYTICS": "true",
    "ANONYMIZED_TELEMETRY": "False",
    # no tokenizer fork warnings from worker threads
    "TOKENIZERS_PARALLELISM": "false",
}


def go_offline() -> None:
    """Set the environment that keeps hub clients offline and telemetry off."""
    os.environ.update(OFFLINE_ENV)
