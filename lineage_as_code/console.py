"""The one console object: everything the CLI shows goes through here, never through print().

Results go to stdout, diagnostics to stderr; colour only when stdout is a terminal and NO_COLOR
is unset.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

_COLOURS = {"green": "32", "red": "31", "yellow": "33", "cyan": "36", "bold": "1", "dim": "2"}


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

    def warning(self, text: str) -> None:
        """A finding that does not stop the command, on stderr: ``warning: file:line: ...``."""
        self.err.write(self.paint(f"warning: {text}", "yellow") + "\n")

    @contextmanager
    def showing_warnings(self, kind: type[Warning]) -> Iterator[None]:
        """Print every ``kind`` warning the library emits inside the block, as it happens;
        other warnings keep Python's handling."""
        with warnings.catch_warnings():
            warnings.simplefilter("always", kind)
            shown = warnings.showwarning

            def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                     file: TextIO | None = None, line: str | None = None) -> None:
                if issubclass(category, kind):
                    self.warning(str(message))
                else:
                    shown(message, category, filename, lineno, file, line)

            warnings.showwarning = show
            yield

    @property
    def interactive(self) -> bool:
        """True when a person watches stderr: progress is drawn as a bar instead of log lines."""
        return self.err.isatty() and "CI" not in os.environ

    @contextmanager
    def progress_bar(self, label: str) -> Iterator[Callable[[int, int], None]]:
        """Yield ``advance(done, total)``: a rich progress bar on a terminal, nothing otherwise.

        The bar is drawn from the first ``advance`` on, so a question asked before the work starts
        (apply's approval) stays on screen instead of being redrawn over.
        """
        if not self.interactive:
            yield lambda _done, _total: None
            return
        from rich.console import Console as RichConsole
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        bar = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                       console=RichConsole(file=self.err), transient=True)
        task = bar.add_task(label, total=None)

        def advance(done: int, total: int) -> None:
            if not bar.live.is_started:
                bar.start()
            bar.update(task, completed=done, total=total)

        try:
            yield advance
        finally:
            if bar.live.is_started:
                bar.stop()
