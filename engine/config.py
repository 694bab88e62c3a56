"""Where Hearth keeps its data, and the user's settings.

Everything lives under one home directory: the platform's user data directory by default,
`HEARTH_HOME` or `--home` for tests and portable use. Nothing is written next to the code.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

APP_NAME = "Hearth"


def default_home() -> Path:
    """The data directory: `HEARTH_HOME` if set, else the platform's user data directory."""
    env = os.environ.get("HEARTH_HOME")
    if env:
        return Path(env).expanduser().resolve()
    import platformdirs

    return platformdirs.user_data_path(APP_NAME, appauthor=False)


@dataclass(frozen=True)
class Paths:
    """The layout of a Hearth home directory."""

    home: Path

    @property
    def collections(self) -> Path:
        return self.home / "collections"

    @property
    def models(self) -> Path:
        return self.home / "models"

    @property
    def adapters(self) -> Path:
        return self.home / "adapters"

    @property
    def runs(self) -> Path:
        return self.home / "runs"

    @property
    def cache(self) -> Path:
        return self.home / "cache"

    @property
    def settings_file(self) -> Path:
        return self.home / "settings.json"

    @property
    def conversations_db(self) -> Path:
        return self.home / "conversations.sqlite"

    def ensure(self) -> Paths:
        for p in (self.home, self.collections, self.models, self.adapters, self.runs, self.cache):
            p.mkdir(parents=True, exist_ok=True)
        return self


@dataclass
class Settings:
    """User settings, stored as JSON in the home directory. Unknown keys are ignored."""

    chat_model: str | None = None
    """Name of the chat model in the model registry; None: the first installed one."""
    gpu_layers: int = -1
    """Layers offloaded to the GPU when the build supports it; -1 = all, 0 = CPU only."""
    context_length: int = 4096
    """Tokens of context for chat (capped by the model's own training context)."""
    temperature: float = 0.2
    """Sampling temperature for answers; low keeps answers close to the sources."""
    max_answer_tokens: int = 512
    """Upper bound on the length of one answer, in tokens."""
    passages: int = 5
    """How many retrieved passages are given to the model for an answer."""
    verify_with_model: bool = False
    """Let the chat model judge each claim of an answer against its passage (slower; for fast
    GPUs). The sentence-by-sentence check by meaning and words always runs."""
    default_collection: str = "default"
    """The collection used when none is named."""
    extra: dict[str, object] = field(default_factory=dict)
    """Settings owned by the front end (window geometry, theme and the like)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError("temperature must be between 0 and 2")
        if not 1 <= self.passages <= 50:
            raise ValueError("passages must be between 1 and 50")
        if not 256 <= self.context_length <= 1_048_576:
            raise ValueError("context_length must be between 256 and 1048576")
        if not 16 <= self.max_answer_tokens <= 32_768:
            raise ValueError("max_answer_tokens must be between 16 and 32768")

    @classmethod
    def load(cls, path: Path) -> Settings:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError):
            # A damaged settings file must not keep Hearth from starting; defaults apply.
            return cls()
        known = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in raw.items() if k in known})
        except (TypeError, ValueError):
            return cls()

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        os.replace(tmp, path)
