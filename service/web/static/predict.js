/* Predict, then run: the learner states the output shape and clicks where one marked input value lands,
   before the editor unlocks. The shape field with its empty-grid preview is also the `shape` quiz's widget. */
(function (global) {
  "use strict";
  var el = KGrid.el;
  var MAX_PREVIEW = 4096;  // cells; a typo like 1000, 1000 must not build a million-cell table

  function parseShape(raw) {
    var parts = String(raw || "").replace(/torch\.Size|[()\[\]\s]/g, "").split(",").filter(function (s) { return s !== ""; });
    if (!parts.length || parts.length > 6) return null;
    var dims = parts.map(Number);
    return dims.every(function (n) { return Number.isInteger(n) && n > 0 && n < 1000; }) ? dims : null;
  }
  function empty(shape) {
    function build(d) {
      if (d === shape.length) return null;
      var row = [];
      for (var i = 0; i < shape[d]; i++) row.push(build(d + 1));
      return row;
    }
    return { kind: "tensor", shape: shape, values: build(0) };
  }

  /* shapeField({labels, id, label, help, pick(idx)}) -> {node, input, dims()}: a shape input and, under it, an
     empty grid of that shape; with pick, each cell is a button that chooses a position. */
  function shapeField(o) {
    var L = o.labels || {};
    var node = el("div", "shape-field");
    var lab = el("label", "", o.label || L["ex.shape_label"]);
    lab.htmlFor = o.id;
    var input = el("input");
    input.type = "text"; input.id = o.id; input.autocomplete = "off"; input.inputMode = "numeric";
    input.placeholder = L["ex.shape_placeholder"] || "3, 2";
    if (o.help) { var help = el("p", "muted small", o.help); help.id = o.id + "-help"; input.setAttribute("aria-describedby", help.id); }
    node.appendChild(lab); node.appendChild(input);
    if (o.help) node.appendChild(help);
    var preview = el("div", "shape-preview");
    node.appendChild(preview);
    var chosen = null;
    function redraw() {
      preview.replaceChildren();
      var dims = parseShape(input.value);
      if (!dims || dims.reduce(function (a, b) { return a * b; }, 1) > MAX_PREVIEW) return;
      var fig = KGrid.render(empty(dims), { name: o.name || "y", labels: { dim: L["grid.dim"] } });
      if (o.pick) fig.querySelectorAll("td.cell").forEach(function (td) {
        var idx = td.dataset.idx.split(",").map(Number);
        var b = el("button", "pick", "·");
        b.type = "button";
        b.setAttribute("aria-label", (o.name || "y") + "[" + idx.join(", ") + "]");
        b.setAttribute("aria-pressed", chosen && chosen.join(",") === td.dataset.idx ? "true" : "false");
        b.addEventListener("click", function () {
          chosen = idx;
          preview.querySelectorAll("button.pick").forEach(function (x) { x.setAttribute("aria-pressed", "false"); x.textContent = "·"; });
          b.setAttribute("aria-pressed", "true");
          b.textContent = o.markText || "●";
          o.pick(idx);
        });
        td.replaceChildren(b);
        td.classList.add("pickable");
      });
      preview.appendChild(fig);
    }
    input.addEventListener("input", function () { chosen = null; if (o.pick) o.pick(null); redraw(); });
    return { node: node, input: input, dims: function () { return parseShape(input.value); } };
  }

  function fill(text, vars) {
    return String(text || "").replace(/\{(\w+)\}/g, function (_, k) { return vars[k] !== undefined ? vars[k] : ""; });
  }
  function idxText(name, idx) { return name + "[" + idx.join(", ") + "]"; }

  /* mount(box, {url, labels, csrf, onUnlock}): fetches the question, asks it, checks it, explains it. */
  function mount(box, o) {
    var L = o.labels;
    box.replaceChildren(el("p", "muted", L["ex.running"] || "…"));
    fetch(o.url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; }, function () { return null; })
      .then(function (target) {
        if (!target) {  // e.g. the output is a tuple: nothing to place, so the editor opens as usual
          box.replaceChildren(el("p", "muted", L["pred.unavailable"]));
          o.onUnlock(false);
          if (!o.auto) box.closest("#predict").hidden = false;
          return;
        }
        ask(box, target, o);
      });
  }

  function ask(box, target, o) {
    var L = o.labels, position = null;
    box.replaceChildren();
    box.appendChild(el("p", "", L["pred.intro"]));
    var colours = KGrid.colourMap(target.input);
    var inFig = KGrid.render(target.input, { name: target.arg, labels: { dim: L["grid.dim"] }, colours: colours });
    if (target.marked) {
      var cell = inFig.querySelector('td.cell[data-idx="' + target.marked.join(",") + '"]');
      if (cell) { cell.classList.add("marked"); cell.setAttribute("aria-label", KGrid.format(target.value) + " (" + L["pred.marked"] + ")"); }
    }
    box.appendChild(inFig);
    var field = shapeField({ labels: L, id: "predict-shape", label: L["pred.shape"], help: L["pred.shape_help"],
                             name: "y", markText: KGrid.format(target.value),
                             pick: target.marked ? function (idx) { position = idx; } : null });
    box.appendChild(field.node);
    if (target.marked) {
      var where = el("p", "pred-where", fill(L["pred.where"], { value: KGrid.format(target.value) }));
      field.node.insertBefore(where, field.node.querySelector(".shape-preview"));
    }
    var bar = el("div", "toolbar");
    var check = el("button", "btn-primary", L["pred.check"]);
    check.type = "button"; check.id = "predict-check";
    var skip = el("button", "", L["pred.skip"]);
    skip.type = "button"; skip.id = "predict-skip";
    bar.appendChild(check); bar.appendChild(skip);
    box.appendChild(bar);
    var msg = el("div", "pred-result");
    msg.setAttribute("aria-live", "polite");
    box.appendChild(msg);
    skip.addEventListener("click", o.onUnlock);
    check.addEventListener("click", function () {
      var dims = field.dims();
      if (!dims || (target.marked && !position)) { msg.replaceChildren(el("p", "flash", L["pred.pick_first"])); return; }
      check.disabled = true;
      fetch(o.url, { method: "POST", credentials: "same-origin",
                     headers: { "Content-Type": "application/json", "X-CSRFToken": o.csrf, "Accept": "application/json" },
                     body: JSON.stringify({ shape: dims, position: target.marked ? position : null }) })
        .then(function (r) { return r.json(); })
        .then(function (res) { explain(msg, res, dims, position, target, o); check.disabled = false; },
              function () { msg.replaceChildren(el("p", "flash error", L["ex.network_error"])); check.disabled = false; });
    });
  }

  function explain(msg, res, dims, position, target, o) {
    var L = o.labels;
    msg.replaceChildren();
    if (res.code) { msg.appendChild(el("p", "flash error", res.error || res.code)); return; }
    var head = el("div", "verdict " + (res.correct ? "pass" : "fail"));
    head.dataset.correct = res.correct ? "1" : "0";
    head.appendChild(el("p", "verdict-head", res.correct ? L["pred.right"] : L["pred.wrong"]));
    var shapeTxt = "(" + res.shape.join(", ") + ")";
    head.appendChild(el("p", "", res.shape_correct ? fill(L["pred.shape_ok"], { shape: shapeTxt })
      : fill(L["pred.shape_bad"], { shape: shapeTxt, yours: "(" + dims.join(", ") + ")" })));
    if (res.position) {
      var v = KGrid.format(target.value), at = idxText("y", res.position);
      head.appendChild(el("p", "", res.position_correct ? fill(L["pred.pos_ok"], { value: v, where: at })
        : fill(L["pred.pos_bad"], { value: v, where: at, yours: position ? idxText("y", position) : "?" })));
    }
    msg.appendChild(head);
    // The picture: the same animation as "Picture it", on this very case.
    var anim = KAnim.build(target.input, res.expected, { labels: L, inName: target.arg, outName: "y" });
    msg.appendChild(anim.node);
    var unlock = el("button", "btn-primary", L["pred.unlock"]);
    unlock.type = "button"; unlock.id = "predict-unlock";
    unlock.addEventListener("click", o.onUnlock);
    msg.appendChild(unlock);
    anim.play();
  }

  global.KPredict = { mount: mount, shapeField: shapeField, parseShape: parseShape };
})(window);
