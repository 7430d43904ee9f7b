/* Verdict rendering shared by the learner's exercise page and the instructor's submission view, so both show
   the same grids and the same case numbers. Server strings are written with textContent, never as HTML. */
(function (global) {
  "use strict";
  var el = KGrid.el;

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
  function pick(texts, lang, fallback) {
    if (texts && typeof texts === "object") return texts[lang] || texts.en || fallback || "";
    return fallback || "";
  }
  function gridLabels(L) {
    return { dim: L["grid.dim"], none: L["grid.none"], empty: L["grid.empty"], elided: L["grid.elided"], expected: L["ex.expected"] };
  }
  function permText(p) { return Array.isArray(p) ? "(" + p.join(", ") + ")" : String(p); }
  function detailPair(d) {
    var applied = d.applied !== undefined ? d.applied : (d.applied_permutation !== undefined ? d.applied_permutation : d.permutation);
    var wanted = d.expected !== undefined ? d.expected : (d.expected_permutation !== undefined ? d.expected_permutation : d.wanted);
    return applied !== undefined && wanted !== undefined ? [applied, wanted] : null;
  }

  function diagnoses(result, box, o) {
    var L = o.labels, seen = {};
    (result.diagnoses || []).forEach(function (d) {
      if (seen[d.code]) return;
      seen[d.code] = true;
      var node = el("div", "diag" + (d.code === "gpu_skipped" ? " staff-note" : ""));
      node.dataset.code = d.code;
      if (L["diag." + d.code]) node.appendChild(el("strong", "diag-name", L["diag." + d.code]));
      node.appendChild(rich("p", "msg", pick(d.messages, o.lang, d.message)));
      var pair = d.details ? detailPair(d.details) : null;
      if (pair) {
        var p = el("p");
        p.appendChild(document.createTextNode(L["ex.applied"] + " "));
        p.appendChild(el("span", "perm", permText(pair[0])));
        p.appendChild(document.createTextNode("; " + L["ex.wanted"] + " "));
        p.appendChild(el("span", "perm", permText(pair[1])));
        node.appendChild(p);
      }
      if (d.hint) {
        var h = rich("div", "hint", pick(d.hint, o.lang));
        h.insertBefore(el("strong", "", L["ex.hint"] + ": "), h.firstChild);
        node.appendChild(h);
      }
      box.appendChild(node);
    });
  }

  // Hidden cases are numbered among themselves (1, 2, 3), for learners and instructors alike.
  function caseTitle(c, hiddenNo, L) {
    return c.visible ? L["ex.case"] + " " + c.name : L["ex.hidden_case"] + " " + hiddenNo;
  }

  function oneCase(c, hiddenNo, o) {
    var L = o.labels;
    var node = el("section", "case");
    node.dataset.passed = c.passed ? "1" : "0";
    var head = el("div", "case-head");
    head.appendChild(el("span", "badge " + (c.passed ? "pass" : "fail"), c.passed ? L["ex.passed"] : L["ex.failed"]));
    head.appendChild(el("span", "case-title", caseTitle(c, hiddenNo, L)));
    node.appendChild(head);
    var bad = (c.checks || []).filter(function (k) { return !k.passed; });
    if (bad.length) {
      var ul = el("ul", "checks");
      bad.forEach(function (k) { ul.appendChild(rich("li", "bad", pick(k.messages, o.lang, k.message || k.name))); });
      node.appendChild(ul);
    }
    if (c.error) {
      node.appendChild(el("p", "", L["ex.error"] + ": " + (c.error.type || "") + (c.error.message ? ": " + c.error.message : "")));
      if (c.error.traceback) node.appendChild(el("pre", "stdout", c.error.traceback));
    }
    if (c.visible && (c.output || c.expected)) {
      var inputs = c.inputs || ((o.cases || []).filter(function (pc) { return pc.name === c.name; })[0] || {}).inputs;
      var colours = o.colours ? o.colours(inputs) : null;
      var gl = gridLabels(L);
      var side = el("div", "side");
      if (inputs) Object.keys(inputs).forEach(function (name) {
        side.appendChild(KGrid.render(inputs[name], { name: name, labels: gl, colours: colours, collapse: o.collapse }));
      });
      if (side.childNodes.length) side.appendChild(el("span", "arrow", "→"));
      // Yours and expected stay together (one flex item) so they wrap as a pair, never apart.
      var pair = el("div", "pair");
      var yours = KGrid.render(c.output, { name: L["ex.yours"], labels: gl, colours: colours, variable: "",
                                           against: c.passed ? null : c.expected, collapse: o.collapse });
      yours.classList.add("yours");
      pair.appendChild(yours);
      if (!c.passed) {
        var exp = KGrid.render(c.expected, { name: L["ex.expected"], labels: gl, colours: colours, variable: "", collapse: o.collapse });
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

  /* render(result, {labels, lang, kind, cases, colours(inputs), collapse, caption}) -> DocumentFragment */
  function render(result, o) {
    var L = o.labels;
    var box = el("div", "verdict " + (result.passed ? "pass" : "fail"));
    box.dataset.passed = result.passed ? "1" : "0";
    var head = el("div", "verdict-head");
    head.appendChild(el("span", "badge " + (result.passed ? "pass" : "fail"), result.passed ? L["ex.passed"] : L["ex.failed"]));
    head.appendChild(el("span", "", L["ex.score"] + " " + Math.round((result.score || 0) * 100) + "%"));
    if (o.caption) head.appendChild(el("span", "muted verdict-caption", o.caption));
    box.appendChild(head);
    diagnoses(result, box, o);
    if (result.explanation) {
      var ex = rich("div", "diag explanation", pick(result.explanation, o.lang));
      ex.insertBefore(el("strong", "", L["ex.explanation"] + ": "), ex.firstChild);
      box.appendChild(ex);
    }
    var frag = document.createDocumentFragment();
    frag.appendChild(box);
    // Quiz kinds have one synthetic "answer" case: the verdict and explanation already say it all.
    var hidden = 0;
    if (o.kind === "code") (result.cases || []).forEach(function (c) {
      if (!c.visible) hidden++;
      frag.appendChild(oneCase(c, hidden, o));
    });
    if (result.stdout) {
      frag.appendChild(el("h3", "", L["ex.stdout"]));
      frag.appendChild(el("pre", "stdout", result.stdout));
    }
    return frag;
  }

  global.KVerdict = { render: render, rich: rich, pick: pick, gridLabels: gridLabels };
})(window);
