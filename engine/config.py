"""Where Hearth keeps its data, and the user's settings.

Everything lives under one home directory: the platform's user data directory by default,
`HEARTH_HOME` or `--home` for tests and portable use. Nothing is written next to the code.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field, ValidationError
from pydantic.dataclasses import dataclass as pydantic_dataclass

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


DEFAULT_COLLECTION = "My documents"
"""The collection used when none is named: where the window puts dropped files and where
`hearth ask` looks without `-c`."""


@pydantic_dataclass(config=ConfigDict(validate_assignment=True))
class Settings:
    """User settings, stored as JSON in the home directory.

    Each field is validated on its own: a bad value in the file is left out (the default
    applies) and named in `Settings.read`'s problems; unknown keys are ignored.
    """

    chat_model: str | None = Field(
        default=None,
        description="Name of the chat model in the model registry; None: the first installed one.",
    )
    gpu_layers: int = Field(
        default=-1,
        ge=-1,
        description="Layers offloaded to the GPU when the build supports it; -1 = all, 0 = CPU only.",
    )
    context_length: int = Field(
        default=4096,
        ge=256,
        le=1_048_576,
        description="Tokens of context for chat (capped by the model's own training context).",
    )
    temperature: float = Field(
        default=0.2,
        ge=0.0,
        le=2.0,
        description="Sampling temperature for answers; low keeps answers close to the sources.",
    )
    max_answer_tokens: int = Field(
        default=512, ge=16, le=32_768, description="Upper bound on the length of one answer."
    )
    passages: int = Field(
        default=5,
        ge=1,
        le=50,
        description="How many retrieved passages are given to the model for an answer.",
    )
    verify_with_model: bool = Field(
        default=False,
        description="Let the chat model judge each claim of an answer against its passage "
        "(slower; for fast GPUs). The sentence-by-sentence check by meaning and words always runs.",
    )
    default_collection: str = Field(
        default=DEFAULT_COLLECTION,
        min_length=1,
        description="The collection used when none is named.",
    )
    extra: dict[str, Any] = Field(
        default_factory=dict,
        description="Settings owned by the front end (window geometry, theme and the like).",
    )

    @classmethod
    def load(cls, path: Path) -> Settings:
        """The settings in `path` (see `read`, which also says what was ignored)."""
        return cls.read(path)[0]

    @classmethod
    def read(cls, path: Path) -> tuple[Settings, list[str]]:
        """The settings in `path` and a line for each value that was ignored, and why.

        A damaged file or a bad value never keeps Hearth from starting: the defaults apply to
        what could not be read, and every valid value is kept.
        """
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(), []
        except (OSError, ValueError) as exc:
            return cls(), [f"{path} could not be read ({exc}); the default settings apply."]
        if not isinstance(raw, dict):
            return cls(), [f"{path} does not hold settings; the default settings apply."]
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in raw.items() if k in known}
        problems: list[str] = []
        while True:
            try:
                return cls(**values), problems
            except ValidationError as exc:
                bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
                for e in exc.errors():
                    if e["loc"] and str(e["loc"][0]) in values:
                        key = str(e["loc"][0])
                        problems.append(
                            f"The setting '{key}' ({values[key]!r}) was ignored: {e['msg']}. "
                            "The default applies."
                        )
                if not bad & values.keys():
                    return cls(), problems
                for key in bad:
                    values.pop(key, None)

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        os.replace(tmp, path)
