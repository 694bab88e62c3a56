"""The fine-tuning wizard: data, model and preset, settings, training, compare, use.

Open it with `open_wizard(window, hearth, runner, models)`. Training and dataset generation
run as `python -m trainer` child processes (`TrainingProcess`); the window stays usable and no
trainer outlives the app.
"""

from __future__ import annotations

from app.wizard.process import TrainingProcess
from app.wizard.wizard import FineTuneWizard, open_wizard

__all__ = ["FineTuneWizard", "TrainingProcess", "open_wizard"]
