/* "Picture it, in motion": the operation on the learner's own example, drawn with KGrid.
   Dimensions are seats that move with their sizes; each value's colour travels to where it lands; a memory
   strip shows the storage in order and the jumps a permuted read makes. Plain DOM + Web Animations, no
   framework. A text equivalent says the same in words; prefers-reduced-motion jumps to the final state. */
(function (global) {
  "use strict";
  var el = KGrid.el, key = KGrid.key;
  var MAX_FLY = 240;  // more values than this fade in instead of flying (a wall of clones teaches nothing)

  function fill(text, vars) {
    return String(text || "").replace(/\{(\w+)\}/g, function (_, k) { return vars[k] !== undefined ? vars[k] : ""; });
  }
  function reduced() {
    return !!(global.matchMedia && global.matchMedia("(prefers-reduced-motion: reduce)").matches);
  }

  // Row-major cells of a {shape, values} tensor as [[index...], value].
  function cells(t) {
    var out = [];
    (function walk(v, idx) {
      if (idx.length === t.shape.length) { out.push([idx, v]); return; }
      for (var i = 0; i < v.length; i++) walk(v[i], idx.concat([i]));
    })(t.values, []);
    return out;
  }
  function strides(shape) {
    var s = [], acc = 1;
    for (var i = shape.length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
    return s;
  }
  function offset(idx, st) { var o = 0; for (var i = 0; i < idx.length; i++) o += idx[i] * st[i]; return o; }
  function drawable(t) { return t && Array.isArray(t.shape) && t.shape.length >= 1 && t.values !== null && t.values !== undefined; }

  // The permutation p with out[i0..] == in[i_p...] (out axis k is input axis p[k]), or null when the operation is
  // not a pure axis permutation of uniquely coded values (reshape, einsum contractions, ...).
  function inferPerm(input, output) {
    var a = input.shape, b = output.shape;
    if (a.length !== b.length) return null;
    var where = {}, dup = false;
    cells(input).forEach(function (c) { var k = key(c[1]); if (k in where) dup = true; where[k] = c[0]; });
    if (dup) return null;
    var perm = [];
    for (var k = 0; k < b.length; k++) {
      var found = -1;
      for (var j = 0; j < a.length; j++) if (a[j] === b[k] && perm.indexOf(j) < 0) {
        var ok = cells(output).every(function (c) {
          var src = where[key(c[1])];
          return src && src[j] === c[0][k];
        });
        if (ok) { found = j; break; }
      }
      if (found < 0) return null;
      perm.push(found);
    }
    return perm;
  }

  /* permute(t, perm) -> a new {shape, values}; the landing page's demo runs on this. */
  function permute(t, perm) {
    var shape = perm.map(function (p) { return t.shape[p]; });
    function build(prefix) {
      if (prefix.length === shape.length) {
        var src = [];
        for (var j = 0; j < perm.length; j++) src[perm[j]] = prefix[j];
        return KGrid.at(t.values, src);
      }
      var row = [];
      for (var i = 0; i < shape[prefix.length]; i++) row.push(build(prefix.concat([i])));
      return row;
    }
    return { kind: t.kind || "tensor", dtype: t.dtype, shape: shape, values: build([]) };
  }

  function seatsRow(shape, order, L, cls) {
    var row = el("ol", "seats " + cls);
    row.setAttribute("aria-hidden", "true");  // the text equivalent says the same
    order.forEach(function (dimIndex, seat) {
      var li = el("li", "seat");
      li.appendChild(el("span", "seat-no", (L["anim.seat"] || "seat") + " " + seat));
      var chip = el("span", "dim-chip", (L["anim.axis"] || "dim") + " " + dimIndex + " · " + shape[dimIndex]);
      chip.dataset.dim = String(dimIndex);
      chip.style.setProperty("--hue", String((dimIndex * 97) % 360));
      li.appendChild(chip);
      row.appendChild(li);
    });
    return row;
  }

  function strip(values, cls, mark, L) {
    var t = el("table", "strip " + (cls || ""));
    t.tabIndex = 0;  // it may scroll sideways: keyboard users must be able to reach and scroll it
    var head = el("tr"), body = el("tr");
    var th = el("th", "", L["anim.offset"] || "offset"); th.scope = "row"; head.appendChild(th);
    var tv = el("th", "", L["anim.value"] || "value"); tv.scope = "row"; body.appendChild(tv);
    values.forEach(function (v, i) {
      var h = el("th", "", i); h.scope = "col"; head.appendChild(h);
      var td = el("td", "cell", KGrid.format(v[0]));
      if (v[1] !== undefined) { td.style.setProperty("--hue", String(v[1])); td.classList.add("pic"); }
      if (mark) td.appendChild(el("span", "visit", mark[i]));
      body.appendChild(td);
    });
    t.appendChild(head); t.appendChild(body);
    return t;
  }

  function memory(input, output, perm, colours, L) {
    var box = el("div", "memory");
    box.appendChild(el("p", "memory-title", L["anim.memory"] || "Memory strip"));
    var inCells = cells(input), outCells = cells(output);
    var where = {};
    var st = strides(input.shape);
    inCells.forEach(function (c) { where[key(c[1])] = offset(c[0], st); });
    var STR = L["anim.strides"] || "strides";
    box.appendChild(el("p", "muted", (L["anim.memory_in"] || "") + " · " + STR + " (" + st.join(", ") + ")"));
    var reads = outCells.map(function (c) { return where[key(c[1])]; });
    var known = reads.every(function (r) { return r !== undefined; });
    var visit = [];
    if (known) reads.forEach(function (off, step) { visit[off] = (visit[off] ? visit[off] + "," : "") + (step + 1); });
    box.appendChild(strip(inCells.map(function (c) { return [c[1], colours[key(c[1])]]; }), "strip-in", known ? visit : null, L));
    var words = [];
    if (!known) return { node: box, words: words };
    var inOrder = reads.every(function (r, i) { return r === i; });
    var jumps = [];
    for (var i = 1; i < reads.length; i++) {
      var d = reads[i] - reads[i - 1], s = (d > 0 ? "+" : "−") + Math.abs(d);
      if (jumps.indexOf(s) < 0 && jumps.length < 4) jumps.push(s);
    }
    var outStrides = perm ? " · " + STR + " (" + perm.map(function (p) { return st[p]; }).join(", ") + ")" : "";
    box.appendChild(el("p", "muted", (L["anim.memory_read"] || "") + ": " + reads.join(", ") + outStrides));
    var say = inOrder ? L["anim.memory_view"] : fill(L["anim.memory_jumps"], { jumps: jumps.join(", ") });
    box.appendChild(el("p", "memory-say", say));
    words.push(say.replace(/[:：]\s*$/, L["anim.stop"] || "."));  // the strip it announces is not in the list
    if (!inOrder) {
      box.appendChild(el("p", "muted", L["anim.memory_copy"] || ""));
      box.appendChild(strip(outCells.map(function (c) { return [c[1], colours[key(c[1])]]; }), "strip-copy", null, L));
    }
    return { node: box, words: words };
  }

  function fmtIdx(name, idx) { return name + "[" + idx.join(", ") + "]"; }

  /* build(input, output, {labels, inName, outName, call}) -> {node, play()}
     input/output: {shape, values}. The node is complete (final state) before play() moves anything. */
  function build(input, output, options) {
    var o = options || {}, L = o.labels || {};
    var root = el("div", "anim");
    root.dataset.state = "ready";
    if (!drawable(input) || !drawable(output)) return { node: root, play: function () { root.dataset.state = "done"; } };
    var perm = inferPerm(input, output);
    var colours = KGrid.colourMap(input);
    var gl = { dim: L["grid.dim"], none: L["grid.none"], empty: L["grid.empty"], elided: L["grid.elided"] };
    var words = [];

    // Seats: the input's dims in order, and the output's seats filled by the input dims that sit there.
    var seats = el("div", "seat-rows");
    var inOrder = input.shape.map(function (_, i) { return i; });
    var outRow = perm ? seatsRow(input.shape, perm, L, "seats-out")
      : seatsRow(output.shape, output.shape.map(function (_, i) { return i; }), L, "seats-out plain");
    [[o.inName || "x", seatsRow(input.shape, inOrder, L, "seats-in")], [o.outName || "y", outRow]].forEach(function (pair) {
      var line = el("div", "seat-line");
      var owner = el("span", "seat-owner", pair[0]);
      owner.setAttribute("aria-hidden", "true");
      line.appendChild(owner);
      line.appendChild(pair[1]);
      seats.appendChild(line);
    });
    root.appendChild(seats);
    if (perm) perm.forEach(function (src, dst) {
      words.push(fill(L[src === dst ? "anim.stays" : "anim.moves"], { src: src, size: input.shape[src], dst: dst }));
    });

    var stage = el("div", "stage");
    var inFig = KGrid.render(input, { name: o.inName || "x", labels: gl, colours: colours });
    var outFig = KGrid.render(output, { name: o.outName || "y", labels: gl, colours: colours });
    outFig.classList.add("anim-out");
    stage.appendChild(inFig);
    stage.appendChild(el("span", "arrow", o.call ? o.call + " →" : "→"));
    stage.appendChild(outFig);
    root.appendChild(stage);

    var where = {};
    cells(input).forEach(function (c) { where[key(c[1])] = c[0]; });
    var moved = cells(output).filter(function (c) {
      var src = where[key(c[1])]; return src && src.join(",") !== c[0].join(",");
    }).slice(0, 4);
    moved.forEach(function (c) {
      words.push(fill(L["anim.lands"], { input: fmtIdx(o.inName || "x", where[key(c[1])]) + " = " + KGrid.format(c[1]),
                                        output: fmtIdx(o.outName || "y", c[0]) }));
    });

    var mem = memory(input, output, perm, colours, L);
    root.appendChild(mem.node);
    words = words.concat(mem.words);
    var text = el("details", "anim-text");
    text.appendChild(el("summary", "", L["anim.text"] || "In words"));
    var ul = el("ul");
    words.forEach(function (w) { ul.appendChild(el("li", "", w)); });
    text.appendChild(ul);
    text.open = true;
    root.appendChild(text);

    function finish() { root.dataset.state = "done"; outFig.classList.remove("hidden-cells"); }

    function play() {
      if (reduced() || !root.isConnected || typeof root.animate !== "function") { finish(); return; }
      root.dataset.state = "playing";
      var base = stage.getBoundingClientRect();
      var anims = [];
      // Seats: FLIP each output chip from the seat its dim had in the input.
      var inChips = {};
      seats.querySelectorAll(".seats-in .dim-chip").forEach(function (c) { inChips[c.dataset.dim] = c.getBoundingClientRect(); });
      if (perm) outRow.querySelectorAll(".dim-chip").forEach(function (c) {
        var from = inChips[c.dataset.dim], to = c.getBoundingClientRect();
        if (!from) return;
        anims.push(c.animate([{ transform: "translate(" + (from.left - to.left) + "px," + (from.top - to.top) + "px)" },
                              { transform: "none" }], { duration: 900, easing: "ease-in-out", fill: "backwards" }));
      });
      // Values: a coloured clone flies from its input cell to where it lands.
      var inCells = {};
      inFig.querySelectorAll("td.cell").forEach(function (td) { inCells[td.textContent] = inCells[td.textContent] || td; });
      var targets = outFig.querySelectorAll("td.cell");
      outFig.classList.add("hidden-cells");
      if (targets.length <= MAX_FLY) targets.forEach(function (td, i) {
        var src = inCells[td.textContent];
        if (!src) return;
        var a = src.getBoundingClientRect(), b = td.getBoundingClientRect();
        var fly = el("span", "fly", td.textContent);
        fly.style.cssText = "left:" + (a.left - base.left) + "px;top:" + (a.top - base.top) + "px;width:" + a.width + "px;height:" + a.height + "px";
        fly.style.setProperty("--hue", td.style.getPropertyValue("--hue") || "210");
        stage.appendChild(fly);
        var anim = fly.animate([{ transform: "translate(0,0)" }, { transform: "translate(" + (b.left - a.left) + "px," + (b.top - a.top) + "px)" }],
                               { duration: 1100, delay: 300 + Math.min(i * 25, 900), easing: "cubic-bezier(.4,0,.2,1)", fill: "forwards" });
        anim.finished.then(function () { fly.remove(); }, function () { fly.remove(); });
        anims.push(anim);
      });
      Promise.all(anims.map(function (a) { return a.finished.catch(function () {}); })).then(finish);
    }

    return { node: root, play: play, perm: perm };
  }

  global.KAnim = { build: build, permute: permute, inferPerm: inferPerm };
})(window);
