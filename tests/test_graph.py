"""``lac graph``: Mermaid, DOT and the HTML page, the last one driven in headless Chromium.

The browser is driven through the DevTools protocol over a pipe (``--remote-debugging-pipe``): the
test loads the page from a file, collects every console message and uncaught exception, reads
the rendered DOM, and wheels, drags and types as a person would.
"""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.browser import Browser, chromium
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
    columns = browser.js("[...document.querySelectorAll('#columns tbody tr')].map(r => r.innerText)")
    assert columns[0].split() == ["orders.id", "\u2192", "fct_orders.order_id"]
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


# A warehouse of 25 nodes (15 assets, 10 processes) with real-length names: at "Fit" the full
# labels would be ~5 px high, so the page must fall back to layer titles and short names.
WAREHOUSE = """\
version: 1
defaults: {platform: snowflake, database: ANALYTICS}
processes:
  - {id: load_orders, name: Load orders, inputs: ["postgres:shop.public.orders"], outputs: [raw.orders]}
  - {id: load_customers, name: Load customers, inputs: ["postgres:shop.public.customers"], outputs: [raw.customers]}
  - {id: load_payments, name: Load payments, inputs: ["stripe:billing.public.charges"], outputs: [raw.payments]}
  - {id: stg_orders, name: Stage orders, inputs: [raw.orders], outputs: [staging.stg_orders]}
  - {id: stg_customers, name: Stage customers, inputs: [raw.customers], outputs: [staging.stg_customers]}
  - {id: stg_payments, name: Stage payments, inputs: [raw.payments], outputs: [staging.stg_payments]}
  - id: build_fct_orders
    name: Build fct_orders
    inputs: [staging.stg_orders, staging.stg_customers, staging.stg_payments]
    outputs: [marts.fct_orders]
    columns:
      - {from: [staging.stg_orders.id], to: marts.fct_orders.order_id}
      - {from: [staging.stg_orders.amount, staging.stg_payments.fee], to: marts.fct_orders.net_amount,
         transform: "amount - fee"}
  - {id: build_dim_customers, name: Build dim_customers, inputs: [staging.stg_customers],
     outputs: [marts.dim_customers]}
  - {id: revenue_extract, name: Revenue extract, inputs: [marts.fct_orders, marts.dim_customers],
     outputs: ["looker:sales.dashboards.revenue", "looker:sales.dashboards.revenue_by_region"]}
  - {id: ltv_extract, name: Lifetime value extract, inputs: [marts.dim_customers],
     outputs: ["looker:sales.dashboards.customer_ltv", "looker:sales.dashboards.churn_risk"]}
"""
MIN_LABEL_PX = 11


def visible_labels(browser: Browser) -> dict[str, list[float]]:
    """Each node's shown label text with its box on screen [left, top, right, bottom, height]."""
    return browser.js("""Object.fromEntries([...document.querySelectorAll('.node')].map(g => [g.dataset.nodeId,
        g.querySelector('text')]).filter(([, t]) => t.style.display !== 'none' && t.textContent).map(([id, t]) => {
        const b = t.getBoundingClientRect(); return [id, [t.textContent, b.left, b.top, b.right, b.bottom, b.height]];
        }))""")


def test_at_fit_a_25_node_warehouse_shows_readable_names_layers_and_a_legend(browser, lac, tmp_path):
    (tmp_path / "warehouse.yaml").write_text(WAREHOUSE)
    browser.console.clear()
    browser.open(page(lac, tmp_path, "warehouse.yaml"))
    assert len(node_ids(browser)) == 25
    labels = visible_labels(browser)
    assert len(labels) >= 20, labels  # the busiest nodes at least; here nearly all fit
    small = {node: box for node, box in labels.items() if box[5] < MIN_LABEL_PX}
    assert not small, f"labels drawn smaller than {MIN_LABEL_PX}px at fit: {small}"
    assert labels["a:snowflake:ANALYTICS.marts.fct_orders"][0] == "fct_orders"  # the name, not the whole key
    titles = browser.js("[...document.querySelectorAll('.layer-title')].filter(t => t.style.display !== 'none')"
                        ".map(t => t.textContent)")
    assert {"raw", "staging", "marts", "processes"} <= set(titles)
    legend = browser.js("document.getElementById('legend').innerText")
    assert all(word in legend for word in ("asset", "process", "placeholder", "search match"))
    # The screenshot really shows the text: dark glyph pixels inside a label's box, none in empty canvas.
    shot = browser.screenshot(tmp_path / "fit.png")
    box = labels["a:snowflake:ANALYTICS.marts.fct_orders"]
    assert shot.dark_pixels(*box[1:5]) > 20
    canvas = browser.js("(() => { const r = document.getElementById('canvas').getBoundingClientRect();"
                        " return [r.left, r.top, r.right]; })()")
    first_title = browser.js("Math.min(...[...document.querySelectorAll('.layer-title')]"
                             ".map(t => t.getBoundingClientRect().top))")
    assert first_title - canvas[1] > 20  # the fitted graph is centred: blank canvas above it
    assert shot.dark_pixels(canvas[0], canvas[1] + 2, canvas[2], first_title - 4) == 0
    assert browser.console == []


def test_zooming_in_reveals_every_full_name(browser, lac, tmp_path):
    (tmp_path / "warehouse.yaml").write_text(WAREHOUSE)
    browser.open(page(lac, tmp_path, "warehouse.yaml"))
    assert browser.js("document.getElementById('canvas').dataset.detail") == "names"
    for _ in range(4):
        browser.mouse("mouseWheel", 600, 400, deltaX=0, deltaY=-400)
    assert float(browser.js("document.getElementById('canvas').dataset.zoom")) >= 1
    assert browser.js("document.getElementById('canvas').dataset.detail") == "full"
    shown = browser.js("[...document.querySelectorAll('.node text')].map(t => t.textContent)")
    assert "snowflake:ANALYTICS.marts.fct_orders" in shown and len(shown) == 25
    assert all(box[5] >= MIN_LABEL_PX for box in visible_labels(browser).values())


def test_search_zooms_to_each_match_and_cycles_both_ways(browser, lac, tmp_path):
    (tmp_path / "warehouse.yaml").write_text(WAREHOUSE)
    browser.open(page(lac, tmp_path, "warehouse.yaml"))
    browser.js("const s = document.getElementById('search'); s.focus(); s.value = '';")
    browser.send("Input.insertText", text="customers")

    def enter(shift: bool = False) -> str:
        browser.send("Input.dispatchKeyEvent", type="keyDown", key="Enter", code="Enter", windowsVirtualKeyCode=13,
                     modifiers=8 if shift else 0)
        (current,) = node_ids(browser, ".node.current")
        return current

    matches = node_ids(browser, ".node.match")
    assert len(matches) == 7
    seen = [enter() for _ in matches]
    assert sorted(seen) == matches  # Enter visits every match once
    assert enter() == seen[0] and enter(shift=True) == seen[-1]
    assert float(browser.js("document.getElementById('canvas').dataset.zoom")) >= 1
    centre = browser.js("""(() => { const c = document.getElementById('canvas').getBoundingClientRect();
        const b = document.querySelector('.node.current rect').getBoundingClientRect();
        return [b.left + b.width / 2 - (c.left + c.width / 2), b.top + b.height / 2 - (c.top + c.height / 2)]; })()""")
    assert centre == pytest.approx([0, 0], abs=2)
    assert browser.js("document.getElementById('status').textContent").startswith("7 matches (7/7)")


def test_a_selected_process_shows_its_column_lineage(browser, lac, tmp_path):
    (tmp_path / "warehouse.yaml").write_text(WAREHOUSE)
    browser.open(page(lac, tmp_path, "warehouse.yaml"))
    browser.js("document.querySelector('[data-node-id=\"p:build_fct_orders\"]').dispatchEvent(new MouseEvent('click'))")
    rows = browser.js("[...document.querySelectorAll('#columns tbody tr')].map(r => [...r.cells].map(c => c.innerText))")
    assert rows == [["stg_orders.id", "\u2192", "fct_orders.order_id"],
                    ["stg_orders.amount\nstg_payments.fee", "\u2192", "fct_orders.net_amount\namount - fee"]]
    keys = browser.js("[...document.querySelectorAll('#columns tbody tr:last-child [title]')].map(e => e.title)")
    assert keys == ["snowflake:ANALYTICS.staging.stg_orders.amount", "snowflake:ANALYTICS.staging.stg_payments.fee",
                    "snowflake:ANALYTICS.marts.fct_orders.net_amount"]  # the full keys, on hover
    assert browser.js("document.getElementById('columns').hidden") is False
    browser.js("document.querySelector('[data-node-id=\"p:load_orders\"]').dispatchEvent(new MouseEvent('click'))")
    assert browser.js("document.getElementById('columns').hidden") is True  # no column lineage there


def test_placeholders_look_apart_from_assets_the_catalog_holds(browser, lac, tmp_path):
    (tmp_path / "warehouse.yaml").write_text(WAREHOUSE)
    assert lac("apply", "--auto-approve", "warehouse.yaml", cwd=tmp_path).code == 0  # PARTIAL: placeholders
    browser.open(page(lac, tmp_path, "warehouse.yaml"))
    placeholders = node_ids(browser, ".node.placeholder")
    assert len(placeholders) == 15 and all(n.startswith("a:") for n in placeholders)
    dash = browser.js("getComputedStyle(document.querySelector('.node.placeholder rect')).strokeDasharray")
    plain = browser.js("getComputedStyle(document.querySelector('.node.process rect')).strokeDasharray")
    assert dash not in ("none", "") and plain in ("none", "")
    details = browser.js("document.querySelector('.node.placeholder').dispatchEvent(new MouseEvent('click'));"
                         "document.getElementById('details').innerText")
    assert "lineage placeholder" in details
    # Without a readable state there is nothing to call a placeholder, and the graph is still drawn.
    (tmp_path / ".lac" / "state.json").write_text("{not json")
    browser.open(page(lac, tmp_path, "warehouse.yaml"))
    assert node_ids(browser, ".node.placeholder") == [] and len(node_ids(browser)) == 25


def test_a_large_graph_fits_the_window_with_its_layers_and_busiest_names_readable(browser, lac, tmp_path):
    lines = ["version: 1", "defaults: {platform: snowflake, database: DW}", "processes:"]
    lines += [f"  - {{id: stg_{n}, inputs: [raw.src_{n}], outputs: [staging.stg_{n}]}}" for n in range(600)]
    lines += [f"  - {{id: mart_{n}, inputs: [staging.stg_{n}, staging.stg_{(n * 7) % 600}, staging.stg_{n % 5}], "
              f"outputs: [marts.mart_{n}]}}" for n in range(300)]
    (tmp_path / "big.yaml").write_text("\n".join(lines) + "\n")
    browser.console.clear()
    browser.open(page(lac, tmp_path, "big.yaml"))
    assert browser.js("document.querySelectorAll('.node').length") == 2400
    inside = browser.js("""(() => { const c = document.getElementById('canvas').getBoundingClientRect();
        return [...document.querySelectorAll('.node rect')].every(r => { const b = r.getBoundingClientRect();
        return b.left >= c.left && b.right <= c.right && b.top >= c.top && b.bottom <= c.bottom; }); })()""")
    assert inside  # not a hairline cut off at the minimum zoom: the whole graph is on screen
    titles = browser.js("[...document.querySelectorAll('.layer-title')].filter(t => t.style.display !== 'none')"
                        ".map(t => t.textContent)")
    assert titles == ["raw", "processes", "staging", "processes", "marts"]
    labels = visible_labels(browser)
    assert 20 <= len(labels) < 2400
    assert all(box[5] >= MIN_LABEL_PX for box in labels.values())
    boxes = sorted(box[1:5] for box in labels.values())
    assert not any(a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
                   for k, a in enumerate(boxes) for b in boxes[k + 1:])  # no two names overlap
    # The busiest nodes are named first (a neighbour's name may crowd one out): the staging tables
    # that every fifth mart reads.
    assert len({f"a:snowflake:DW.staging.stg_{n}" for n in range(5)} & set(labels)) >= 3
    # A search match is named even where it is not among the busiest.
    assert "a:snowflake:DW.raw.src_599" not in labels
    browser.js("const s = document.getElementById('search'); s.focus(); s.value = '';")
    browser.send("Input.insertText", text="src_599")
    assert "a:snowflake:DW.raw.src_599" in visible_labels(browser)
    assert browser.console == []
