"""The figures the reliability suite measures (faults survived, crash trials, fuzz cases, leaks),
collected while tests run and printed as tables at the end of the session by ``conftest.py``.

Each section is a table: rows of column -> value, in the order tests recorded them. A test records
its figures before it asserts, so a failing run still shows what was measured.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Figures:
    sections: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, section: str, row: Mapping[str, Any]) -> None:
        self.sections.setdefault(section, []).append(dict(row))

    def render(self) -> str:
        """Every section as a Markdown table (ready to paste into tests/reliability/README.md)."""
        out: list[str] = []
        for title, rows in self.sections.items():
            columns = list(dict.fromkeys(key for row in rows for key in row))
            out += [f"### {title}", "", "| " + " | ".join(columns) + " |",
                    "|" + "|".join("---" for _ in columns) + "|"]
            out += ["| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |" for row in rows]
            out.append("")
        return "\n".join(out)


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        value = ", ".join(f"{k} {v}" for k, v in sorted(value.items())) or "none"
    return str(value).replace("|", "\\|").replace("\n", " ")


FIGURES = Figures()
