"""Fixtures of the reliability suite: the figures collector, and how big each check runs.

Tests marked ``reliability_full`` are deselected by ``make test`` (pyproject's addopts) and run by
``make reliability``, which also prints the figures gathered here at the end of the session.
"""

from __future__ import annotations

import pytest

from tests.reliability.figures import FIGURES, Figures


@pytest.fixture
def figures() -> Figures:
    return FIGURES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES.sections:
        terminalreporter.section("reliability figures")
        terminalreporter.write_line(FIGURES.render())
