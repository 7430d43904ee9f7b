/* Exercise page: editor, submit via fetch (JSON + CSRF header), verdict rendering, "picture it".
   Every learner-controlled string is written with textContent; nothing from the server becomes HTML. */
(function () {
  "use strict";
  var dataNode = document.getElementById("page-data");
  if (!dataNode) return;
  var page = JSON.parse(dataNode.textContent);
  var L = page.labels;
  var lang = page.lang;
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var picture = false;
  var lastResult = null;

  var el = KGrid.el;  // grid.js is loaded first
  // Messages use `backticks` for code: split them into <code> elements (text nodes only, never HTML).
  function rich(tag, cls, text) {
    var node = el(tag, cls);
    String(text || "").split("`").forEach(function (part, i) {
      if (!part) return;
      if (i % 2) { node.appendChild(el("code", "", part)); return; }
      part.split(/\*([^*\s][^*]*)\*/).forEach(function (bit, j) {  // *emphasis*, as in the exercise hints
        if (bit) node.appendChild(j % 2 ? el("em", "", bit) : document.createTextNode(bit));
      });
    });
    return node;
  }
  function pick(texts, fallback) {
    if (texts && typeof texts === "object") return texts[lang] || texts.en || fallback || "";
    return fallback || "";
  }
  function gridLabels() { return { dim: L["grid.dim"], shape: L["grid.shape"], none: L["grid.none"], empty: L["grid.empty"], elided: L["grid.elided"], expected: L["ex.expected"] }; }
  // "Picture it" colours every grid by the values of the case's first input tensor; null when off.
  function pictureColours(inputs) {
    if (!picture || !inputs) return null;
    for (var k in inputs) if (inputs[k] && inputs[k].shape) return KGrid.colourMap(inputs[k]);
    return null;
  }
  function draw(tensor, name, extra) {
    var opts = { name: name, labels: gridLabels() };
    if (extra) for (var k in extra) opts[k] = extra[k];
    return KGrid.render(tensor, opts);
  }

  // --- Editor -----------------------------------------------------------------------------------------
  var editor = null;
  var host = document.getElementById("editor");
  if (host) {
    var initial = page.code !== null && page.code !== undefined ? page.code : page.exercise.starter;
    if (window.KiwameEditor) {
      editor = window.KiwameEditor.create(host, initial, { onSubmit: submit, label: L["ex.editor"] });
    } else {
      var ta = el("textarea");
      ta.value = initial;
      ta.setAttribute("aria-label", L["ex.editor"]);
      host.appendChild(ta);
      editor = { getValue: function () { return ta.value; }, setValue: function (v) { ta.value = v; }, focus: function () { ta.focus(); } };
    }
    var reset = document.getElementById("reset");
    if (reset) reset.addEventListener("click", function () { editor.setValue(page.exercise.starter); editor.focus(); });
  }
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey) && !(host && host.contains(ev.target))) { ev.preventDefault(); submit(); }
  });

  // A visible case's name in the learner's language (YAML `label: {en, ja}`), else its YAML name.
  function caseLabel(name) {
    var found = page.cases.filter(function (pc) { return pc.name === name; })[0];
    return found && found.label ? pick(found.label, name) : name;
  }

  // --- Examples (visible cases, drawn before any submission) -----------------------------------------------
  function drawExamples() {
    var box = document.getElementById("examples");
    if (!box) return;
    box.replaceChildren();
    page.cases.forEach(function (c) {
      box.appendChild(el("p", "case-label muted", L["ex.case"] + " " + caseLabel(c.name)));
      var wrap = el("div", "side");
      var colours = pictureColours(c.inputs);
      Object.keys(c.inputs).forEach(function (name) { wrap.appendChild(draw(c.inputs[name], name, { colours: colours })); });
      box.appendChild(wrap);
    });
  }

  // --- Submit -----------------------------------------------------------------------------------------------
  var button = document.getElementById("submit");
  var spinner = document.getElementById("spinner");
  var out = document.getElementById("result");
  var busy = false;

  function payload() {
    if (page.exercise.kind === "code") return { code: editor.getValue() };
    if (page.exercise.kind === "shape") {
      var raw = document.getElementById("shape-answer").value;
      var dims = raw.replace(/[()\[\]\s]/g, "").split(",").filter(function (s) { return s !== ""; }).map(Number);
      return { answer: dims };
    }
    var ticked = Array.prototype.slice.call(document.querySelectorAll('input[name="choice"]:checked')).map(function (i) { return Number(i.value); });
    return { answer: page.exercise.multi ? ticked : (ticked.length ? ticked[0] : null) };
  }

  // {ok, body} of a fetch response; a body that is not JSON counts as a failure with no message.
  function readJson(r) {
    return r.json().then(function (body) { return { ok: r.ok, body: body }; }, function () { return { ok: false, body: {} }; });
  }

  function submit(reveal) {
    if (busy || !button) return;
    var body = payload();
    if (reveal === true) body.reveal = true;
    busy = true;
    button.disabled = true;
    spinner.dataset.on = "1";
    out.setAttribute("aria-busy", "true");
    fetch(page.submitUrl, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, "Accept": "application/json" },
      body: JSON.stringify(body),
    }).then(readJson).then(function (res) {
      if (res.ok && res.body.pending) return poll(res.body.id, 0);
      return res;
    }).then(function (res) {
      if (!res.ok || !res.body.result) { showError(res.body.error || L["ex.network_error"]); return; }
      lastResult = res.body.result;
      renderResult(lastResult);
      if (res.body.state) updateState(res.body.state);
    }, function () { showError(L["ex.network_error"]); })
      .then(function () {
        busy = false; button.disabled = false; spinner.dataset.on = "0"; out.setAttribute("aria-busy", "false");
      });
  }
  if (button) button.addEventListener("click", function () { submit(false); });

  // A busy grader may answer "pending": ask again until the result is stored (bounded, about a minute).
  function poll(id, tries) {
    return new Promise(function (resolve) { setTimeout(resolve, Math.min(2000, 300 + tries * 200)); }).then(function () {
      return fetch(page.pollUrl.replace(/0\.json$/, id + ".json"), { credentials: "same-origin", headers: { "Accept": "application/json" } });
    }).then(readJson).then(function (res) {
      if (res.ok && res.body.pending && tries < 40) return poll(id, tries + 1);
      return res;
    });
  }

  function showError(message) {
    out.replaceChildren(el("div", "flash error", message));
  }
  function updateState(state) {
    var badge = document.getElementById("ex-state");
    if (!badge) return;
    badge.className = "state state-" + state;
    badge.textContent = L["state." + state] || state;
  }

  // --- Verdict ------------------------------------------------------------------------------------------------
  function permText(p) { return Array.isArray(p) ? "(" + p.join(", ") + ")" : String(p); }
  function detailPair(d) {
    var applied = d.applied !== undefined ? d.applied : (d.applied_permutation !== undefined ? d.applied_permutation : d.permutation);
    var wanted = d.expected !== undefined ? d.expected : (d.expected_permutation !== undefined ? d.expected_permutation : null);
    return Array.isArray(applied) ? [applied, Array.isArray(wanted) ? wanted : null] : null;
  }

  // One primary diagnosis leads; the others fold under "More details" (they repeat or follow from it).
  function renderDiagnoses(result, box) {
    var seen = {};
    var folded = el("details", "more-diags");
    folded.appendChild(el("summary", "", L["ex.more"]));
    (result.diagnoses || []).forEach(function (d, i) {
      if (seen[d.code]) return;
      seen[d.code] = true;
      var node = el("div", "diag" + (d.primary || i === 0 ? " primary" : ""));
      node.dataset.code = d.code;
      node.appendChild(rich("p", "msg", pick(d.messages, d.message)));
      var pair = d.details ? detailPair(d.details) : null;
      if (pair) {
        var p = el("p");
        p.appendChild(document.createTextNode(L["ex.applied"] + " "));
        p.appendChild(el("span", "perm", permText(pair[0])));
        if (pair[1] !== null) {  // the wanted permutation only comes with the last rung of the hint ladder
          p.appendChild(document.createTextNode(L["ex.wanted_sep"] + L["ex.wanted"] + " "));
          p.appendChild(el("span", "perm", permText(pair[1])));
        }
        node.appendChild(p);
      }
      if (d.hint) {
        var h = rich("div", "hint", pick(d.hint));
        h.insertBefore(el("strong", "", L["ex.hint"] + ": "), h.firstChild);
        node.appendChild(h);
      }
      (d.primary || i === 0 ? box : folded).appendChild(node);
    });
    if (folded.childNodes.length > 1) box.appendChild(folded);
    var fb = result.feedback || {};
    if (!result.passed && fb.stage) {
      var ladder = el("p", "muted ladder", L["ex.stage"].replace("{n}", fb.stage));
      if (fb.next_stage_at) ladder.appendChild(document.createTextNode(" " + L["ex.next_stage"]));
      box.appendChild(ladder);
    }
    if (!result.passed && fb.can_reveal) {
      var reveal = el("button", "reveal", page.exercise.kind === "code" ? L["ex.show_me"] : L["ex.give_up"]);
      reveal.type = "button";
      reveal.addEventListener("click", function () { submit(true); });
      box.appendChild(reveal);
    }
  }

  function renderCase(c, index) {
    var node = el("section", "case");
    node.dataset.passed = c.passed ? "1" : "0";
    var head = el("div", "case-head");
    head.appendChild(el("span", "badge " + (c.passed ? "pass" : "fail"), c.passed ? L["ex.passed"] : L["ex.failed"]));
    head.appendChild(el("span", "", c.visible ? L["ex.case"] + " " + caseLabel(c.name) : L["ex.hidden_case"] + " " + (index + 1)));
    node.appendChild(head);
    var bad = (c.checks || []).filter(function (k) { return !k.passed; });
    if (bad.length) {
      var ul = el("ul", "checks");
      bad.forEach(function (k) { ul.appendChild(rich("li", "bad", pick(k.messages, k.message || k.name))); });
      node.appendChild(ul);
    }
    if (c.error) {
      node.appendChild(el("p", "", L["ex.error"] + ": " + (c.error.type || "") + (c.error.message ? ": " + c.error.message : "")));
      if (c.error.traceback) node.appendChild(el("pre", "stdout", c.error.traceback));
    }
    if (c.visible && (c.output || c.expected)) {
      var inputs = c.inputs || (page.cases.filter(function (pc) { return pc.name === c.name; })[0] || {}).inputs;
      var colours = pictureColours(inputs);
      var side = el("div", "side");
      if (inputs) Object.keys(inputs).forEach(function (name) { side.appendChild(draw(inputs[name], name, { colours: colours })); });
      if (side.childNodes.length) side.appendChild(el("span", "arrow", "→"));
      // Yours and expected stay together (one flex item) so they wrap as a pair, never apart.
      var pair = el("div", "pair");
      var yours = draw(c.output, L["ex.yours"], { colours: colours, against: c.passed ? null : c.expected, variable: "" });
      yours.classList.add("yours");
      pair.appendChild(yours);
      if (!c.passed) {
        var exp = draw(c.expected, L["ex.expected"], { colours: colours, variable: "" });
        exp.classList.add("expected");
        pair.appendChild(exp);
      }
      side.appendChild(pair);
      node.appendChild(side);
      var n = Number(yours.dataset.diffCells || 0);
      if (n) node.appendChild(el("p", "muted diff-count", n + " " + L["ex.diff_cells"]));
      else if (yours.classList.contains("shape-differs")) node.appendChild(el("p", "muted", L["ex.shape_differs"]));
    }
    return node;
  }

  function renderResult(result) {
    var box = el("div", "verdict " + (result.passed ? "pass" : "fail"));
    box.dataset.passed = result.passed ? "1" : "0";
    var head = el("div", "verdict-head");
    head.appendChild(el("span", "badge " + (result.passed ? "pass" : "fail"), result.passed ? L["ex.passed"] : L["ex.failed"]));
    head.appendChild(el("span", "", L["ex.score"] + " " + Math.round((result.score || 0) * 100) + "%"));
    box.appendChild(head);
    renderDiagnoses(result, box);
    if (result.explanation) {
      var ex = rich("div", "diag explanation", pick(result.explanation));
      ex.insertBefore(el("strong", "", L["ex.explanation"] + ": "), ex.firstChild);
      box.appendChild(ex);
    }
    var frag = document.createDocumentFragment();
    frag.appendChild(box);
    // Quiz kinds have one synthetic "answer" case: the verdict and explanation already say it all.
    if (page.exercise.kind === "code") (result.cases || []).forEach(function (c, i) { frag.appendChild(renderCase(c, i)); });
    if (result.stdout) {
      frag.appendChild(el("h3", "", L["ex.stdout"]));
      frag.appendChild(el("pre", "stdout", result.stdout));
    }
    out.replaceChildren(frag);
  }

  // --- Picture it -----------------------------------------------------------------------------------------------
  var toggle = document.getElementById("picture");
  if (toggle) toggle.addEventListener("change", function () {
    picture = toggle.checked;
    drawExamples();
    if (lastResult) renderResult(lastResult);
  });

  drawExamples();
  if (page.result) { lastResult = page.result; renderResult(page.result); }
})();
