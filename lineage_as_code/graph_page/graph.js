// Draws the lineage laid out by lac (node centres in the JSON block) as SVG, with pan (drag),
// zoom (wheel, buttons, + - 0 keys), search (highlight; Enter zooms to the next match, Shift+Enter
// the previous; #q=... in the URL pre-fills it), a details panel with a process's column lineage,
// and a level of detail: no label is ever drawn smaller than MIN_PX on screen. When the full
// labels would be smaller, each layer is titled and the largest nodes (most edges) show their
// short names; zooming in reveals the rest. Manifest text only ever enters the DOM through
// textContent or setAttribute, never as markup.
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var data = JSON.parse(document.getElementById("lineage-data").textContent);
  var svg = document.getElementById("canvas");
  var viewport = document.getElementById("viewport");
  var search = document.getElementById("search");
  var status = document.getElementById("status");
  var view = { x: 0, y: 0, k: 1 };
  var nodeEls = [];
  var edgeEls = [];
  var matches = [];
  var current = -1;
  var NODE_H = 34;
  var ROW = 64;
  var FONT = 12;
  var MIN_PX = 11;
  var READ_ZOOM = 1;
  var byDegree = [];
  var CELL = 100;
  var MAX_NAMES = 80;
  var TITLE_PX = 18;
  var layerEls = [];
  var pending = false;
  var MIN_ZOOM = 0.002;
  var widths = [];
  var titleWidths = [];
  var shown = [];
  var sizes = [];
  var measure = null;

  function el(name, attrs, parent) {
    var node = document.createElementNS(NS, name);
    Object.keys(attrs).forEach(function (key) { node.setAttribute(key, String(attrs[key])); });
    if (parent) { parent.appendChild(node); }
    return node;
  }

  function applyView() {
    viewport.setAttribute("transform", "translate(" + view.x + "," + view.y + ") scale(" + view.k + ")");
    svg.setAttribute("data-zoom", view.k.toFixed(3));
    if (data.nodes.length <= 2000) {
      levelOfDetail();
    } else if (!pending) {  // large graphs relabel once per frame, not once per wheel event
      pending = true;
      window.requestAnimationFrame(function () { pending = false; levelOfDetail(); });
    }
  }

  // Every node, most connected first: who gets a label when not all fit.
  function rankNodes() {
    byDegree = data.nodes.map(function (n, i) { return i; });
    byDegree.sort(function (a, b) { return data.nodes[b].degree - data.nodes[a].degree || a - b; });
  }

  // How wide a node's short name is at MIN_PX on screen, measured once with the page's font.
  function nameWidth(i) {
    if (widths[i] === undefined) {
      if (!measure) {
        measure = document.createElement("canvas").getContext("2d");
        measure.font = MIN_PX + "px " + window.getComputedStyle(document.body).fontFamily;
      }
      widths[i] = measure.measureText(data.nodes[i].name).width;
    }
    return widths[i];
  }

  // How wide a layer title is on screen (13px, bold, upper case, spaced as the style draws it).
  function titleWidth(c) {
    if (titleWidths[c] === undefined) {
      nameWidth(0);
      var font = measure.font;
      measure.font = "600 13px " + window.getComputedStyle(document.body).fontFamily;
      var text = data.layers[c].title.toUpperCase();
      titleWidths[c] = measure.measureText(text).width + text.length * 13 * 0.04;
      measure.font = font;
    }
    return titleWidths[c];
  }

  function fitText(text, chars) {
    return text.length <= chars ? text : text.slice(0, Math.max(chars - 1, 1)) + "\u2026";
  }

  // Touches the DOM only when a label changes: panning relabels every node.
  function showLabel(i, text, size) {
    var t = nodeEls[i].firstChild.nextSibling;
    if (shown[i] !== text) {
      t.textContent = text;
      t.style.display = text ? "" : "none";
      shown[i] = text;
    }
    if (text && sizes[i] !== size) {
      t.style.fontSize = size + "px";
      sizes[i] = size;
    }
  }

  function levelOfDetail() {
    var k = view.k;
    var full = FONT * k >= MIN_PX;
    var was = svg.getAttribute("data-detail");
    svg.setAttribute("data-detail", full ? "full" : "names");
    if (full && was === "full") {
      return;
    } else if (full) {
      data.nodes.forEach(function (n, i) { showLabel(i, n.short, FONT); });
    } else {
      placeNames(k);
    }
    // Layer titles sit above their column, or stick to the top edge when the column runs past it;
    // a title that would overlap the one before it is left out.
    var right = -Infinity;
    layerEls.forEach(function (t, c) {
      var layer = data.layers[c];
      var half = titleWidth(c) / 2;
      var sx = view.x + layer.x * k;
      var shown = !full && sx - half > right + 12;
      t.style.fontSize = (13 / k) + "px";
      t.setAttribute("y", Math.max(layer.top - NODE_H / 2 - 10 / k, (TITLE_PX - view.y) / k));
      t.style.display = shown ? "" : "none";
      if (shown) { right = sx + half; }
    });
  }

  // Short names at MIN_PX on screen for the most connected nodes in view, as many as fit without
  // two labels overlapping (a grid of screen cells finds the neighbours to test).
  function placeNames(k) {
    var rect = svg.getBoundingClientRect();
    var cells = {};
    var placed = 0;
    function key(cx, cy) { return cx + "," + cy; }
    function each(box, fn) {
      for (var cx = Math.floor(box[0] / CELL); cx <= Math.floor(box[2] / CELL); cx++) {
        for (var cy = Math.floor(box[1] / CELL); cy <= Math.floor(box[3] / CELL); cy++) {
          if (fn(key(cx, cy))) { return true; }
        }
      }
      return false;
    }
    function hits(box) {
      return each(box, function (cell) {
        return (cells[cell] || []).some(function (o) {
          return box[0] < o[2] && o[0] < box[2] && box[1] < o[3] && o[1] < box[3];
        });
      });
    }
    var done = {};
    // Search matches are named first, then the most connected nodes.
    matches.concat(byDegree).forEach(function (i) {
      if (done[i]) { return; }
      done[i] = true;
      var n = data.nodes[i];
      var sx = view.x + n.x * k;
      var sy = view.y + n.y * k;
      // A name may spill past its box up to most of the gap to the next layer, and never below 8em.
      var room = Math.max((data.layers[n.layer].w + data.layers[n.layer].gap * 0.95) * k, MIN_PX * 8);
      var wide = nameWidth(i);
      var chars = wide <= room ? n.name.length : Math.floor(n.name.length * room / wide) - 1;
      var half = Math.min(wide, room) / 2 + 6;  // with a margin, so names stay apart
      var box = [sx - half, sy - MIN_PX * 0.8, sx + half, sy + MIN_PX * 0.8];
      var inView = box[2] > 0 && box[0] < rect.width && box[3] > TITLE_PX + 8 && box[1] < rect.height;
      if (placed < MAX_NAMES && chars >= 4 && inView && !hits(box)) {
        each(box, function (cell) { (cells[cell] = cells[cell] || []).push(box); return false; });
        placed += 1;
        showLabel(i, fitText(n.name, chars), MIN_PX / k);
      } else {
        showLabel(i, "", MIN_PX / k);
      }
    });
  }

  function zoomAt(factor, cx, cy) {
    var k = Math.min(8, Math.max(MIN_ZOOM, view.k * factor));
    view.x = cx - (cx - view.x) * (k / view.k);
    view.y = cy - (cy - view.y) * (k / view.k);
    view.k = k;
    applyView();
  }

  function drawLayers() {
    var group = document.getElementById("layers");
    data.layers.forEach(function (layer) {
      var t = el("text", { "class": "layer-title", x: layer.x, y: layer.top }, group);
      t.textContent = layer.title;
      layerEls.push(t);
    });
  }

  function bounds() {
    if (!data.nodes.length) { return { x0: 0, y0: 0, x1: 1, y1: 1 }; }
    var b = { x0: Infinity, y0: Infinity, x1: -Infinity, y1: -Infinity };
    data.nodes.forEach(function (n) {
      b.x0 = Math.min(b.x0, n.x - n.w / 2); b.x1 = Math.max(b.x1, n.x + n.w / 2);
      b.y0 = Math.min(b.y0, n.y - NODE_H / 2); b.y1 = Math.max(b.y1, n.y + NODE_H / 2);
    });
    return b;
  }

  function fit() {
    var rect = svg.getBoundingClientRect();
    var b = bounds();
    var width = Math.max(rect.width, 1);
    var height = Math.max(rect.height, 1);
    var top = TITLE_PX + 16;  // the layer titles above, the legend below
    var bottom = 44;
    var room = Math.max(height - top - bottom, 1);
    view.k = Math.min(2, Math.max(MIN_ZOOM, Math.min((width - 40) / (b.x1 - b.x0), room / (b.y1 - b.y0))));
    view.x = width / 2 - ((b.x0 + b.x1) / 2) * view.k;
    view.y = top + room / 2 - ((b.y0 + b.y1) / 2) * view.k;
    applyView();
  }

  function centreOn(n) {
    var rect = svg.getBoundingClientRect();
    view.x = rect.width / 2 - n.x * view.k;
    view.y = rect.height / 2 - n.y * view.k;
    applyView();
  }

  function drawEdges() {
    var group = document.getElementById("edges");
    data.edges.forEach(function (pair) {
      var a = data.nodes[pair[0]];
      var b = data.nodes[pair[1]];
      var x0 = a.x + a.w / 2;
      var x1 = b.x - b.w / 2;
      var mid = (x0 + x1) / 2;
      var d = "M" + x0 + "," + a.y + " C" + mid + "," + a.y + " " + mid + "," + b.y + " " + x1 + "," + b.y;
      edgeEls.push(el("path", { "class": "edge", d: d, "marker-end": "url(#arrow)" }, group));
    });
  }

  function drawNodes() {
    var group = document.getElementById("nodes");
    data.nodes.forEach(function (n, index) {
      var g = el("g", { "class": "node " + n.kind + (n.focus ? " focus" : "") + (n.placeholder ? " placeholder" : ""),
        "data-node-id": n.id,
        "data-kind": n.kind, transform: "translate(" + n.x + "," + n.y + ")", tabindex: 0 }, group);
      el("rect", { x: -n.w / 2, y: -NODE_H / 2, width: n.w, height: NODE_H, rx: n.kind === "process" ? 17 : 4 }, g);
      var text = el("text", {}, g);
      text.textContent = n.short;
      var title = el("title", {}, g);
      title.textContent = n.label;
      g.addEventListener("click", function (event) { event.stopPropagation(); select(index); });
      g.addEventListener("keydown", function (event) { if (event.key === "Enter") { select(index); } });
      nodeEls.push(g);
    });
  }

  function neighbours(index) {
    var near = {};
    near[index] = true;
    data.edges.forEach(function (pair, e) {
      var hot = pair[0] === index || pair[1] === index;
      edgeEls[e].classList.toggle("hot", hot);
      if (hot) { near[pair[0]] = true; near[pair[1]] = true; }
    });
    return near;
  }

  function select(index) {
    var n = data.nodes[index];
    var near = neighbours(index);
    nodeEls.forEach(function (g, i) {
      g.classList.toggle("selected", i === index);
      g.classList.toggle("dim", !near[i]);
    });
    document.getElementById("details-title").textContent = (n.kind === "process" ? "Process: " : "Asset: ") + n.label;
    var list = document.getElementById("details-list");
    list.replaceChildren();
    n.details.forEach(function (pair) {
      var dt = document.createElement("dt");
      dt.textContent = pair[0];
      var dd = document.createElement("dd");
      dd.textContent = pair[1];
      list.appendChild(dt);
      list.appendChild(dd);
    });
    showColumns(n);
    document.getElementById("details").hidden = false;
  }

  // A column as table.column, its full key in the tooltip.
  function columnName(tag, key) {
    var item = document.createElement(tag);
    item.textContent = key.split(".").slice(-2).join(".");
    item.title = key;
    return item;
  }

  // A process's column lineage: each output column with the input columns it is made from.
  function showColumns(n) {
    var box = document.getElementById("columns");
    var body = document.getElementById("columns-body");
    body.replaceChildren();
    box.hidden = !n.columns.length;
    n.columns.forEach(function (m) {
      var row = document.createElement("tr");
      var from = document.createElement("td");
      m[0].forEach(function (src) {
        from.appendChild(columnName("div", src));
      });
      var arrow = document.createElement("td");
      arrow.textContent = "\u2192";
      arrow.className = "arrow";
      var to = document.createElement("td");
      to.appendChild(columnName("div", m[1]));
      if (m[2]) {
        var how = document.createElement("div");
        how.className = "transform";
        how.textContent = m[2];
        to.appendChild(how);
      }
      row.appendChild(from);
      row.appendChild(arrow);
      row.appendChild(to);
      body.appendChild(row);
    });
  }

  function clearSelection() {
    nodeEls.forEach(function (g) { g.classList.remove("selected"); g.classList.remove("dim"); });
    edgeEls.forEach(function (p) { p.classList.remove("hot"); });
    document.getElementById("details").hidden = true;
    runSearch();
  }

  function showStatus() {
    var base = data.nodes.length + " nodes, " + data.edges.length + " edges";
    if (!search.value.trim()) { status.textContent = base; return; }
    status.textContent = matches.length + " match" + (matches.length === 1 ? "" : "es") +
      (current >= 0 ? " (" + (current + 1) + "/" + matches.length + ")" : "") + " \u00b7 " + base;
  }

  function runSearch() {
    var q = search.value.trim().toLowerCase();
    matches = [];
    current = -1;
    data.nodes.forEach(function (n, i) {
      var hit = q !== "" && (n.label.toLowerCase().indexOf(q) >= 0 || n.id.toLowerCase().indexOf(q) >= 0);
      if (hit) { matches.push(i); }
      nodeEls[i].classList.toggle("match", hit);
      nodeEls[i].classList.remove("current");
      nodeEls[i].classList.toggle("dim", q !== "" && !hit);
    });
    edgeEls.forEach(function (p) { p.classList.toggle("dim", q !== ""); });
    showStatus();
  }

  // Zoom in far enough to read full labels, centre on the next (or previous) match.
  function nextMatch(step) {
    if (!matches.length) { return; }
    if (current >= 0) { nodeEls[matches[current]].classList.remove("current"); }
    current = (current + (step || 1) + matches.length) % matches.length;
    nodeEls[matches[current]].classList.add("current");
    view.k = Math.max(view.k, READ_ZOOM);
    centreOn(data.nodes[matches[current]]);
    showStatus();
  }

  function wire() {
    var drag = null;
    var panned = false;
    svg.addEventListener("wheel", function (event) {
      event.preventDefault();
      var rect = svg.getBoundingClientRect();
      zoomAt(Math.exp(-event.deltaY * 0.0015), event.clientX - rect.left, event.clientY - rect.top);
    }, { passive: false });
    svg.addEventListener("pointerdown", function (event) {
      drag = { x: event.clientX, y: event.clientY, vx: view.x, vy: view.y, moved: false };
      svg.classList.add("panning");
    });
    window.addEventListener("pointermove", function (event) {
      if (!drag) { return; }
      view.x = drag.vx + event.clientX - drag.x;
      view.y = drag.vy + event.clientY - drag.y;
      drag.moved = drag.moved || Math.abs(event.clientX - drag.x) + Math.abs(event.clientY - drag.y) > 3;
      applyView();
    });
    window.addEventListener("pointerup", function () {
      panned = Boolean(drag && drag.moved);
      drag = null;
      svg.classList.remove("panning");
    });
    // A click that ends a pan keeps the selection; a plain click on the background clears it.
    svg.addEventListener("click", function () { if (!panned) { clearSelection(); } });
    function zoomCentre(factor) {
      var rect = svg.getBoundingClientRect();
      zoomAt(factor, rect.width / 2, rect.height / 2);
    }
    document.getElementById("zoom-in").addEventListener("click", function () { zoomCentre(1.25); });
    document.getElementById("zoom-out").addEventListener("click", function () { zoomCentre(0.8); });
    document.getElementById("zoom-fit").addEventListener("click", fit);
    document.getElementById("details-close").addEventListener("click", clearSelection);
    search.addEventListener("input", function () { runSearch(); levelOfDetail(); });
    search.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { nextMatch(event.shiftKey ? -1 : 1); }
    });
    document.addEventListener("keydown", function (event) {
      if (event.target === search) { return; }
      if (event.key === "+" || event.key === "=") { zoomCentre(1.25); }
      if (event.key === "-") { zoomCentre(0.8); }
      if (event.key === "0") { fit(); }
      if (event.key === "/") { event.preventDefault(); search.focus(); }
    });
    window.addEventListener("resize", fit);
  }

  rankNodes();
  drawLayers();
  drawEdges();
  drawNodes();
  wire();
  fit();
  var hash = new URLSearchParams(window.location.hash.slice(1));
  search.value = hash.get("q") || "";
  runSearch();
  if (matches.length) { nextMatch(1); }
  levelOfDetail();
  document.body.setAttribute("data-ready", "true");
}());
