"""The one console object: everything the CLI shows goes through here, never through print().

Results go to stdout, diagnostics to stderr; colour only when stdout is a terminal and NO_COLOR
is unset.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

_COLOURS = {"green": "32", "red": "31", "yellow": "33", "bold": "1", "dim": "2"}


class Console:
    def __init__(self, out: TextIO | None = None, err: TextIO | None = None, colour: bool | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        if colour is None:
            colour = self.out.isatty() and "NO_COLOR" not in os.environ
        self.colour = colour

    def paint(self, text: str, style: str) -> str:
        return f"\x1b[{_COLOURS[style]}m{text}\x1b[0m" if self.colour else text

    def print(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def write(self, text: str) -> None:
        self.out.write(text)

    def error(self, text: str) -> None:
        self.err.write(text + "\n")

    def info(self, text: str) -> None:
        self.err.write(text + "\n")
