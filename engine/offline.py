"""Keep every library Hearth uses from reaching the network.

Called once, before any third-party import that could phone home: hub clients go offline,
telemetry is switched off. Values are forced, not defaulted: privacy is not a preference.
"""

from __future__ import annotations

import logging
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
    "UNSTRUCTURED_DISABLE_NOTICE": "1",
    # A batch of texts is tokenized on every core (the chunker's and the embedder's batches:
    # the second core is otherwise idle while a file is read). Set explicitly, so tokenizers
    # never warns about a fork: Hearth starts its processes with spawn, never a bare fork.
    "TOKENIZERS_PARALLELISM": "true",
    # no library progress bars on stderr
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
}

# Loggers whose warnings are about optional downloads Hearth never makes: on a CPU with
# bfloat16, bitsandbytes asks the `kernels` package (a dependency of transformers) for CPU
# kernels from the Hugging Face hub at import, which, offline, says it skipped a "publisher
# trust check" on every start.
QUIET_LOGGERS = ("bitsandbytes", "kernels")


def go_offline() -> None:
    """Set the environment that keeps hub clients offline and telemetry off."""
    os.environ.update(OFFLINE_ENV)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
