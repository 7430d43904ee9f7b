/* Kiwame tensor grids: draws {shape, values} as labelled tables, with diff and "picture it" colour modes.
   Only DOM APIs and textContent are used: values come from learner code and are never parsed as HTML. */
(function (global) {
  "use strict";

  var EDGE = 4;          // elements kept at each end of an elided axis
  var MAX_AXIS = 10;     // axes longer than this are elided to EDGE … EDGE
  var MAX_SLICES = 6;    // leading-axis slices longer than this are elided to 3 … 3

  // el(tag, class, text): an element whose text is set with textContent (exercise.js uses it too).
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // Indices to show along an axis of length n, with null marking the elision gap.
  function shown(n, max, edge) {
    var out = [], i;
    if (n <= max) { for (i = 0; i < n; i++) out.push(i); return out; }
    for (i = 0; i < edge; i++) out.push(i);
    out.push(null);
    for (i = n - edge; i < n; i++) out.push(i);
    return out;
  }

  function fmt(v) {
    if (v === null || v === undefined) return "·";
    if (typeof v === "boolean") return v ? "True" : "False";
    if (typeof v === "number") {
      if (Number.isInteger(v)) return String(v);
      if (!isFinite(v)) return isNaN(v) ? "nan" : (v > 0 ? "inf" : "-inf");
      var s = v.toPrecision(4);
      if (s.indexOf("e") < 0 && s.indexOf(".") >= 0) s = s.replace(/0+$/, "").replace(/\.$/, ".0");
      return s;
    }
    if (typeof v === "string") return v;          // e.g. "nan", "inf" from JSON-safe encoders
    if (Array.isArray(v) && v.length === 2) return fmt(v[0]) + (v[1] < 0 ? "-" : "+") + fmt(Math.abs(v[1])) + "j";
    return String(v);
  }

  function at(values, idx) {
    var v = values;
    for (var k = 0; k < idx.length; k++) { if (!Array.isArray(v)) return undefined; v = v[idx[k]]; }
    return v;
  }

  function key(v) { return typeof v + ":" + JSON.stringify(v); }

  function sameShape(a, b) {
    if (!a || !b || a.length !== b.length) return false;
    for (var i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  function equalCell(a, b) {
    if (typeof a === "number" && typeof b === "number") {
      if (isNaN(a) && isNaN(b)) return true;
      return a === b || Math.abs(a - b) <= 1e-6 + 1e-5 * Math.abs(b);
    }
    return JSON.stringify(a) === JSON.stringify(b);
  }

  // A colour map from each distinct value of a source tensor to a hue ("picture it").
  function colourMap(tensor) {
    var map = {}, order = [];
    (function walk(v) {
      if (Array.isArray(v) && !(v.length === 2 && tensor.dtype && tensor.dtype.indexOf("complex") === 0 && !Array.isArray(v[0]))) {
        for (var i = 0; i < v.length; i++) walk(v[i]);
      } else {
        var k = key(v);
        if (!(k in map)) { map[k] = order.length; order.push(k); }
      }
    })(tensor.values);
    var n = order.length;
    for (var k in map) map[k] = n <= 1 ? 0 : Math.round((map[k] * 330) / n);
    return map;
  }

  function paint(td, v, opts, idx) {
    td.textContent = fmt(v);
    if (opts.colours) {
      var hue = opts.colours[key(v)];
      if (hue !== undefined) {
        td.style.setProperty("--hue", String(hue));
        td.classList.add("pic");
      } else {
        td.classList.add("pic-none");
      }
    }
    if (opts.against && opts.against.values !== undefined) {
      var other = at(opts.against.values, idx);
      if (!equalCell(v, other)) {
        td.classList.add("diff");
        td.title = (opts.labels.expected || "expected") + " " + fmt(other);
        opts.stats.diff++;
      }
    }
  }

  // One 2-D table (or 1-D row) for the given fixed leading index.
  function table(tensor, prefix, opts) {
    var shape = tensor.shape, nd = shape.length;
    var t = el("table", "grid");
    var rows = nd >= 2 ? shape[nd - 2] : 1, cols = nd >= 1 ? shape[nd - 1] : 1;
    var rIdx = nd >= 2 ? shown(rows, MAX_AXIS, EDGE) : [null], cIdx = shown(cols, MAX_AXIS, EDGE);
    // Screen readers get a caption naming the axes, and each header names its axis and index.
    var dim = opts.labels.dim, rowDim = nd - 2, colDim = nd - 1;
    var capText = (opts.variable || opts.name || "") + (prefix.length ? "[" + prefix.join(", ") + ", …]" : "") + ": " +
      (nd >= 2 ? (opts.labels.rows || "rows") + " " + dim + " " + rowDim + ", " : "") + (opts.labels.cols || "columns") + " " + dim + " " + colDim;
    t.appendChild(el("caption", "sr-only", capText));
    var head = el("thead"), hr = el("tr");
    hr.appendChild(el("td", "corner", ""));  // a td: an empty header cell names nothing (axe empty-table-header)
    cIdx.forEach(function (c) {
      var th = el("th", "idx col", c === null ? "…" : c);
      th.scope = "col";
      if (c !== null) th.setAttribute("aria-label", dim + " " + colDim + " = " + c);
      hr.appendChild(th);
    });
    head.appendChild(hr);
    t.appendChild(head);
    var body = el("tbody");
    rIdx.forEach(function (r) {
      var tr = el("tr");
      if (nd >= 2 && r === null) {
        tr.appendChild(el("td", "idx row", "⋮"));
        cIdx.forEach(function () { tr.appendChild(el("td", "gap", "⋮")); });
        body.appendChild(tr);
        return;
      }
      if (nd >= 2) {
        var th = el("th", "idx row", r);
        th.scope = "row";
        th.setAttribute("aria-label", dim + " " + rowDim + " = " + r);
        tr.appendChild(th);
      } else {
        tr.appendChild(el("td", "idx row", ""));
      }
      cIdx.forEach(function (c) {
        if (c === null) { tr.appendChild(el("td", "gap", "…")); return; }
        var idx = prefix.slice();
        if (nd >= 2) idx.push(r);
        idx.push(c);
        var td = el("td", "cell");
        td.dataset.idx = idx.join(",");
        paint(td, at(tensor.values, idx), opts, idx);
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    t.appendChild(body);
    return t;
  }

  function axesBox(tensor, prefix, opts) {
    var nd = tensor.shape.length;
    var wrap = el("div", "axes");
    var colLabel = el("div", "axis-label axis-col", opts.labels.dim + " " + (nd - 1) + " →");
    wrap.appendChild(colLabel);
    var inner = el("div", "axes-inner");
    if (nd >= 2) inner.appendChild(el("div", "axis-label axis-row", opts.labels.dim + " " + (nd - 2) + " →"));  // → reads ↓ when set vertically
    inner.appendChild(table(tensor, prefix, opts));
    wrap.appendChild(inner);
    return wrap;
  }

  // Leading axes (3-D and up) become labelled slices: x[i, :, :] or x[i, j, :, :].
  function slices(tensor, depth, prefix, opts) {
    var nd = tensor.shape.length;
    if (nd - depth <= 2) return axesBox(tensor, prefix, opts);
    var box = el("div", depth === 0 ? "slices" : "slices nested");
    shown(tensor.shape[depth], MAX_SLICES, 3).forEach(function (i) {
      if (i === null) { box.appendChild(el("div", "slice-gap", "…")); return; }
      var p = prefix.concat([i]);
      var rest = [];
      for (var k = p.length; k < nd; k++) rest.push(":");
      var label = (opts.variable || "") + "[" + p.concat(rest).join(", ") + "]";
      var before = opts.stats.diff;
      if (opts.collapse) {
        // Phones: each slice folds away; the ones with differences open (see render()'s first-slice rule).
        var det = el("details", "slice");
        det.appendChild(el("summary", "slice-label", label));
        det.appendChild(slices(tensor, depth + 1, p, opts));
        if (opts.stats.diff > before) { det.open = true; det.classList.add("has-diff"); }
        box.appendChild(det);
        return;
      }
      var fig = el("figure", "slice");
      fig.appendChild(el("figcaption", "slice-label", label));
      fig.appendChild(slices(tensor, depth + 1, p, opts));
      box.appendChild(fig);
    });
    return box;
  }

  /* render(tensor, {name, against, colours, labels}) -> Element
     tensor: {kind, dtype, shape, values}; against: the expected tensor for diff mode. */
  function render(tensor, options) {
    var opts = options || {};
    opts.labels = opts.labels || {};
    opts.labels.dim = opts.labels.dim || "dim";
    opts.stats = { diff: 0 };
    var name = opts.name || "x";
    // Slice labels index a short variable name (x[0, :, :]); long captions like "Your output" are left out.
    if (opts.variable === undefined) opts.variable = /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? name : "";
    var fig = el("figure", "tensor");
    if (!tensor) {
      var head = el("figcaption", "tensor-head");
      head.appendChild(el("span", "tensor-name", name));
      fig.appendChild(head);
      fig.appendChild(el("p", "scalar muted", opts.labels.none || "no value"));
      return fig;
    }
    var shape = tensor.shape || [];
    var cap = el("figcaption", "tensor-head");
    cap.appendChild(el("span", "tensor-name", name));
    if (tensor.shape) cap.appendChild(el("span", "shape", "shape (" + shape.join(", ") + (shape.length === 1 ? "," : "") + ")"));
    else if (tensor.kind && tensor.kind !== "tensor" && tensor.kind !== "ndarray") cap.appendChild(el("span", "dtype", tensor.kind));
    if (tensor.dtype) cap.appendChild(el("span", "dtype", tensor.dtype));
    fig.appendChild(cap);
    if (opts.against && tensor.shape && !sameShape(shape, opts.against.shape)) {
      opts.against = null;
      fig.classList.add("shape-differs");
    }
    if ((tensor.kind === "tuple" || tensor.kind === "list") && Array.isArray(tensor.items)) {
      var row = el("div", "slices");
      tensor.items.forEach(function (item, i) {
        var sub = {}; for (var k in opts) sub[k] = opts[k];
        sub.name = name + "[" + i + "]";
        sub.variable = undefined;
        sub.against = opts.against && opts.against.items ? opts.against.items[i] : null;
        row.appendChild(render(item, sub));
      });
      fig.appendChild(row);
    } else if (!tensor.shape) {
      // Plain values: {"kind": "int"|"float"|..., "value"} or {"kind": "other", "type"}.
      var plain = el("div", "scalar", tensor.value !== undefined ? fmt(tensor.value) : (tensor.type || tensor.kind || "?"));
      if (opts.against && JSON.stringify(opts.against.value) !== JSON.stringify(tensor.value)) plain.classList.add("diff");
      fig.appendChild(plain);
    } else if (tensor.values === null || tensor.values === undefined) {
      // Too large to send whole: the server elided it to a flat preview.
      var pre = (tensor.preview || []).map(fmt).join(", ");
      fig.appendChild(el("p", "muted elided", (opts.labels.elided || "too large to draw; first values") + ": " + pre + " …"));
    } else if (shape.length === 0) {
      var s = el("div", "scalar cell");
      paint(s, tensor.values, opts, []);
      fig.appendChild(s);
    } else if (shape.indexOf(0) >= 0) {
      fig.appendChild(el("p", "muted", opts.labels.empty || "empty tensor"));
    } else {
      if (opts.collapse && shape.length < 3) opts.collapse = false;
      fig.appendChild(slices(tensor, 0, [], opts));
      if (opts.collapse && !opts.stats.diff) {
        // Nothing differs: show the first slice (down every level of nesting), fold the rest.
        for (var first = fig.querySelector("details.slice"); first; first = first.querySelector("details.slice")) first.open = true;
      }
    }
    fig.dataset.diffCells = String(opts.stats.diff);
    return fig;
  }

  // Marks grids wider than their box with a visible cue (call after they are in the document).
  function cue(root, label) {
    (root || document).querySelectorAll(".tensor").forEach(function (fig) {
      var over = fig.scrollWidth > fig.clientWidth + 1;
      fig.classList.toggle("overflows", over);
      if (over) fig.tabIndex = 0; else fig.removeAttribute("tabindex");  // scrollable: reachable by keyboard
      var tag = fig.querySelector(":scope > .scroll-cue");
      if (over && !tag) {
        tag = el("span", "scroll-cue", label || "scroll →");
        tag.setAttribute("aria-hidden", "true");
        fig.insertBefore(tag, fig.firstChild.nextSibling);
      } else if (!over && tag) tag.remove();
    });
  }

  global.KGrid = { render: render, colourMap: colourMap, format: fmt, sameShape: sameShape, el: el, at: at, cue: cue, key: key };
})(window);
