"""Headless Chromium for the browser tests, driven through the DevTools protocol over a pipe.

The browser is started with ``--remote-debugging-pipe``: a test loads a page, collects every
console message and uncaught exception, reads the rendered DOM, takes screenshots, and wheels,
drags and types as a person would.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import struct
import subprocess
import time
import zlib
from pathlib import Path
from typing import Any

import pytest


def chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if path is None:
        pytest.skip("Chromium is not installed (make test installs it)")
    return path



class Screenshot:
    """The RGB pixels of a PNG screenshot (8-bit RGB or RGBA, not interlaced, as Chromium writes them)."""

    def __init__(self, width: int, height: int, channels: int, rows: list[bytes]) -> None:
        self.width, self.height, self.channels, self.rows = width, height, channels, rows

    @classmethod
    def from_png(cls, data: bytes) -> Screenshot:
        pos, idat, header = 8, b"", (0, 0, 0, 0)
        while pos < len(data):
            (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
            body = data[pos + 8:pos + 8 + length]
            if kind == b"IHDR":
                header = struct.unpack(">IIBB", body[:10])
            elif kind == b"IDAT":
                idat += body
            pos += 12 + length
        width, height, depth, colour = header
        assert depth == 8 and colour in (2, 6), "an 8-bit RGB(A) PNG"
        channels = 3 if colour == 2 else 4
        raw, stride = zlib.decompress(idat), width * channels
        rows: list[bytes] = []
        previous = bytearray(stride)
        for y in range(height):
            kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                up, corner = previous[i], previous[i - channels] if i >= channels else 0
                if kind == 1:
                    line[i] = (line[i] + left) & 255
                elif kind == 2:
                    line[i] = (line[i] + up) & 255
                elif kind == 3:
                    line[i] = (line[i] + (left + up) // 2) & 255
                elif kind == 4:
                    p = left + up - corner
                    near = min((abs(p - left), 0, left), (abs(p - up), 1, up), (abs(p - corner), 2, corner))[2]
                    line[i] = (line[i] + near) & 255
            rows.append(bytes(line))
            previous = line
        return cls(width, height, channels, rows)

    def dark_pixels(self, left: float, top: float, right: float, bottom: float, below: int = 110) -> int:
        """How many pixels in the box are dark (every channel under ``below``): text, not background."""
        count = 0
        for y in range(max(int(top), 0), min(int(bottom) + 1, self.height)):
            row = self.rows[y]
            for x in range(max(int(left), 0), min(int(right) + 1, self.width)):
                px = row[x * self.channels:x * self.channels + 3]
                count += all(c < below for c in px)
        return count


class Browser:
    """Headless Chromium over the DevTools pipe: one page, its console collected."""

    def __init__(self, binary: str, profile: Path) -> None:
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        # Above 4, so that moving them onto fds 3 and 4 cannot overwrite one with the other.
        to_child_r, from_child_w = (self._above_four(fd) for fd in (to_child_r, from_child_w))

        # The protocol pipe is fds 3 (commands) and 4 (replies) in the browser; bash puts it there.
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
                f"--user-data-dir={profile}", "--remote-debugging-pipe", "--window-size=1200,800", "about:blank"]
        self.proc = subprocess.Popen(
            ["bash", "-c", f'exec "$0" "$@" 3<&{to_child_r} 4>&{from_child_w}', binary, *args],
            pass_fds=(to_child_r, from_child_w),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer = b""
        self._id = 0
        self.session = ""
        self.console: list[str] = []
        self.events: list[str] = []
        pages = [t for t in self.send("Target.getTargets")["targetInfos"] if t["type"] == "page"]
        self.session = self.send("Target.attachToTarget", targetId=pages[0]["targetId"], flatten=True)["sessionId"]
        self.send("Runtime.enable")
        self.send("Page.enable")

    @staticmethod
    def _above_four(fd: int) -> int:
        high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(fd)
        return high

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self._from_child, 65536)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def _note(self, message: dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled":
            self.console.append(f"{params['type']}: " + " ".join(str(a.get("value")) for a in params["args"]))
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.console.append(f"exception: {details.get('exception', {}).get('description') or details['text']}")
        elif method:
            self.events.append(method)

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        command: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if self.session:
            command["sessionId"] = self.session
        os.write(self._to_child, json.dumps(command).encode() + b"\0")
        deadline = time.monotonic() + 30
        while True:
            message = self._read(deadline)
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))
            self._note(message)

    def open(self, url: str) -> None:
        self.events.clear()
        self.send("Page.navigate", url=url)
        deadline = time.monotonic() + 30
        while "Page.loadEventFired" not in self.events:
            self._note(self._read(deadline))

    def js(self, expression: str, wait: bool = False) -> Any:
        """The value of ``expression``; with ``wait``, of the promise it returns once settled."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=wait)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def mouse(self, kind: str, x: float, y: float, **extra: Any) -> None:
        self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, **extra)

    def screenshot(self, path: Path) -> Screenshot:
        """Save what the window shows as PNG at ``path`` and return its pixels."""
        data = base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"])
        path.write_bytes(data)
        return Screenshot.from_png(data)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)
        os.close(self._to_child)
        os.close(self._from_child)
