"""Plan/apply commands (added as the engine lands)."""

from __future__ import annotations

import argparse


def add_plan_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    return None
