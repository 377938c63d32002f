"""``lac graph``: Mermaid, DOT and the HTML page, the last one driven in headless Chromium.

The browser is driven through the DevTools protocol over a pipe (``--remote-debugging-pipe``): the
test loads the page from a file, collects every console message and uncaught exception, reads
the rendered DOM, and wheels, drags and types as a person would.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURE, REPO

EXAMPLE_ASSETS = ["looker:sales.dashboards.revenue", "postgres:shop.public.customers", "postgres:shop.public.orders",
                  "snowflake:ANALYTICS.marts.fct_orders", "snowflake:ANALYTICS.raw.orders",
                  "snowflake:FINANCE.reporting.monthly_revenue"]
EXAMPLE_PROCESSES = ["build_fct_orders", "load_raw_orders", "monthly_revenue_dag", "rpt_revenue"]
HOSTILE = """\
version: 1
defaults: {platform: snowflake, database: DB}
processes:
  - id: evil
    name: "</script><img src=x onerror=\\"document.title='pwned'\\"> {{script}} & C#"
    description: "<b>bold</b> ]]> <!-- {{data}}"
    inputs: ["raw.`we\\"ird <i>`"]
    outputs: [marts.out]
"""


def chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if path is None:
        pytest.skip("Chromium is not installed (make test installs it)")
    return path


def test_mermaid_shows_every_asset_and_process_with_data_flowing_through_processes(lac):
    result = lac("graph", str(FIXTURE / "manifests"))
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == "flowchart LR"
    labels = dict(re.findall(r'^  (n\d+)\(?\["(.*)"\]\)?$', result.out, re.MULTILINE))
    assert sorted(labels.values()) == sorted(EXAMPLE_ASSETS + ["Build fct_orders", "Load raw orders",
                                                               "fct_orders #gt; monthly_revenue",
                                                               "Revenue dashboard extract"])
    ids = {label: node for node, label in labels.items()}
    edges = set(re.findall(r"^  (n\d+) --> (n\d+)$", result.out, re.MULTILINE))
    assert len(edges) == 9
    assert (ids["snowflake:ANALYTICS.raw.orders"], ids["Build fct_orders"]) in edges
    assert (ids["Build fct_orders"], ids["snowflake:ANALYTICS.marts.fct_orders"]) in edges


def test_around_keeps_the_neighbourhood_within_depth_hops(lac):
    one = lac("graph", "--format", "dot", "--around", "raw.orders", "--depth", "1", str(FIXTURE / "manifests"))
    assert one.code == 0, one.err
    nodes = set(re.findall(r'^  "([^"]+)" \[', one.out, re.MULTILINE))
    assert nodes == {"a:snowflake:ANALYTICS.raw.orders", "p:load_raw_orders", "a:postgres:shop.public.orders",
                     "p:build_fct_orders", "a:snowflake:ANALYTICS.marts.fct_orders"}
    assert '"a:snowflake:ANALYTICS.raw.orders" [label="snowflake:ANALYTICS.raw.orders", shape=box, penwidth=3]' \
        in one.out
    two = lac("graph", "--format", "dot", "--around", "raw.orders", "--depth", "2", str(FIXTURE / "manifests"))
    assert "a:looker:sales.dashboards.revenue" in two.out and "a:postgres:shop.public.customers" not in two.out


def test_around_an_ambiguous_or_unknown_name_says_what_to_do(lac):
    ambiguous = lac("graph", "--around", "orders", str(FIXTURE / "manifests"))
    assert ambiguous.code == 1 and "matches several assets" in ambiguous.err and "raw.orders" in ambiguous.err
    unknown = lac("graph", "--around", "nope", str(FIXTURE / "manifests"))
    assert unknown.code == 1 and "no asset or process by that name" in unknown.err


def test_dot_and_mermaid_escape_manifest_text(tmp_path, lac):
    (tmp_path / "evil.yaml").write_text(HOSTILE)
    dot = lac("graph", "--format", "dot", "evil.yaml", cwd=tmp_path)
    assert dot.code == 0, dot.err
    assert '[label="snowflake:DB.raw.`we\\"ird <i>`", shape=box]' in dot.out
    mermaid = lac("graph", "evil.yaml", cwd=tmp_path).out
    assert "<" not in mermaid and '"ird' not in mermaid and "#35;" in mermaid


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

    def js(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def mouse(self, kind: str, x: float, y: float, **extra: Any) -> None:
        self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, **extra)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)
        os.close(self._to_child)
        os.close(self._from_child)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    b = Browser(chromium(), tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.close()


def page(lac, tmp_path: Path, *args: str) -> str:
    out = tmp_path / "lineage.html"
    result = lac("graph", "--format", "html", "--out", str(out), *args, cwd=tmp_path)
    assert result.code == 0, result.err
    return out.as_uri()


def node_ids(browser: Browser, css: str = ".node") -> list[str]:
    return browser.js(f"[...document.querySelectorAll('{css}')].map(n => n.dataset.nodeId).sort()")


def test_the_html_graph_loads_offline_with_no_console_messages_and_shows_every_node(browser, lac, tmp_path):
    url = page(lac, tmp_path, str(FIXTURE / "manifests"))
    html = Path(url[len("file://"):]).read_text()
    assert not re.search(r"""(src|href)=["']?https?:""", html) and "default-src 'none'" in html
    browser.console.clear()
    browser.open(url)
    assert browser.js("document.body.dataset.ready") == "true"
    assert node_ids(browser) == sorted([f"a:{a}" for a in EXAMPLE_ASSETS] + [f"p:{p}" for p in EXAMPLE_PROCESSES])
    assert browser.js("document.querySelectorAll('path.edge').length") == 9
    assert browser.js("document.getElementById('status').textContent") == "10 nodes, 9 edges"
    label = browser.js("document.querySelector('[data-node-id=\"p:build_fct_orders\"] text').textContent")
    assert label == "Build fct_orders"
    # The whole graph is fitted into view: every node's box lies inside the canvas.
    inside = browser.js("""(() => { const c = document.getElementById('canvas').getBoundingClientRect();
        return [...document.querySelectorAll('.node rect')].every(r => { const b = r.getBoundingClientRect();
        return b.left >= c.left && b.right <= c.right && b.top >= c.top && b.bottom <= c.bottom; }); })()""")
    assert inside
    assert browser.console == []


def test_a_person_can_zoom_pan_search_and_open_details(browser, lac, tmp_path):
    browser.open(page(lac, tmp_path, str(FIXTURE / "manifests")))
    zoom = float(browser.js("document.getElementById('canvas').dataset.zoom"))
    browser.mouse("mouseWheel", 600, 400, deltaX=0, deltaY=-400)
    zoomed = float(browser.js("document.getElementById('canvas').dataset.zoom"))
    assert zoomed > zoom * 1.5
    before = browser.js("document.getElementById('viewport').getAttribute('transform')")
    browser.mouse("mousePressed", 300, 600, button="left", clickCount=1)
    browser.mouse("mouseMoved", 420, 650, button="left", buttons=1)
    browser.mouse("mouseReleased", 420, 650, button="left", clickCount=1)
    after = browser.js("document.getElementById('viewport').getAttribute('transform')")
    moved = [float(a) - float(b) for a, b in zip(re.findall(r"-?[\d.]+", after)[:2],
                                                 re.findall(r"-?[\d.]+", before)[:2], strict=True)]
    assert moved == pytest.approx([120, 50], abs=1)
    browser.js("const s = document.getElementById('search'); s.focus(); s.value = '';")
    browser.send("Input.insertText", text="fct_orders")
    assert node_ids(browser, ".node.match") == ["a:snowflake:ANALYTICS.marts.fct_orders", "p:build_fct_orders",
                                                "p:monthly_revenue_dag"]
    assert browser.js("document.getElementById('status').textContent").startswith("3 matches")
    browser.send("Input.dispatchKeyEvent", type="keyDown", key="Enter", code="Enter", windowsVirtualKeyCode=13)
    assert node_ids(browser, ".node.current") == ["a:snowflake:ANALYTICS.marts.fct_orders"]
    box = browser.js("(() => { const b = document.querySelector('[data-node-id=\"p:build_fct_orders\"] rect')"
                     ".getBoundingClientRect(); return [b.left + b.width / 2, b.top + b.height / 2]; })()")
    browser.mouse("mousePressed", box[0], box[1], button="left", clickCount=1)
    browser.mouse("mouseReleased", box[0], box[1], button="left", clickCount=1)
    details = browser.js("document.getElementById('details').innerText")
    assert "Process: Build fct_orders" in details and "INSERT INTO marts.fct_orders" in details
    assert "raw.orders.id -> " in details
    assert browser.console == []


def test_manifest_text_stays_text_in_the_page(browser, lac, tmp_path):
    (tmp_path / "evil.yaml").write_text(HOSTILE)
    browser.console.clear()
    browser.open(page(lac, tmp_path, "evil.yaml", "--around", "evil") + "#q=%3C%2Fscript")
    assert browser.js("document.title") == "Lineage around </script><img src=x onerror=\"document.title='pwned'\"> " \
                                           "{{script}} & C#"
    assert browser.js("document.querySelectorAll('img, b, i').length") == 0
    assert browser.js("document.querySelectorAll('script').length") == 2  # the data block and the renderer
    assert node_ids(browser, ".node.match") == ["p:evil"]
    text = browser.js("document.querySelector('[data-node-id=\"p:evil\"] title').textContent")
    assert text.startswith("</script><img") and "{{script}}" in text
    browser.js("document.querySelector('[data-node-id=\"p:evil\"]').dispatchEvent(new MouseEvent('click'))")
    assert "<b>bold</b> ]]> <!-- {{data}}" in browser.js("document.getElementById('details').innerText")
    assert browser.console == []


def test_the_page_assets_ship_in_the_wheel(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(REPO)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {f"lineage_as_code/graph_page/graph.{ext}" for ext in ("html", "css", "js")} <= set(names)
