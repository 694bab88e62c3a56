"""`python -m app` starts the desktop app."""

from __future__ import annotations

from app.main import main

raise SystemExit(main())
