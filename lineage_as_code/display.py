"""How text that came from manifests, file names or state is shown to people: control characters
made visible, and long values cut to a short excerpt.

A C0 or C1 control character (ESC, CR, NUL, ...) written to a terminal or a PR comment can move
the cursor, recolour the screen or start a line that is not in the plan; every renderer passes
foreign text through ``escape_control`` first, so such a character shows as ``\\x1b`` instead of
acting. ``excerpt`` is what a message may quote of a value: escaped and at most a few dozen
characters, so a problem never prints a file's content.
"""

from __future__ import annotations

import re

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_KEEP_LAYOUT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # all but tab and newline


def _visible(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def escape_control(text: str, keep_layout: bool = False) -> str:
    """``text`` with every C0/C1 control character written as ``\\xNN``; with ``keep_layout``,
    tabs and newlines stay (multi-line values such as SQL)."""
    pattern = _KEEP_LAYOUT if keep_layout else CONTROL
    return pattern.sub(_visible, text) if pattern.search(text) else text


def has_control(text: str) -> bool:
    """Whether ``text`` holds a C0 or C1 control character."""
    return CONTROL.search(text) is not None


def display_name(name: str) -> str:
    """A file name as messages show it: undecodable bytes (kept by the OS as surrogates) as
    ``\\xNN`` and control characters escaped, so a name always prints on one line."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        name = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return escape_control(name)


def excerpt(text: str, limit: int = 60) -> str:
    """At most ``limit`` characters of ``text``, escaped, with ``...`` when cut."""
    short = text if len(text) <= limit else text[: limit - 3] + "..."
    return escape_control(short)
