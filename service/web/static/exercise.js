/* Exercise page: editor with server-side drafts, examples with expected outputs and the animation, predict mode,
   submit via fetch (JSON + CSRF header), verdicts (verdict.js) and "Next exercise".
   Every learner-controlled string is written with textContent; nothing from the server becomes HTML. */
(function () {
  "use strict";
  var dataNode = document.getElementById("page-data");
  if (!dataNode) return;
  var page = JSON.parse(dataNode.textContent);
  var L = page.labels;
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var picture = false;
  var lastResult = null;
  var expected = {};  // visible case name -> expected output, once examples.json has answered
  var el = KGrid.el;
  var narrow = window.matchMedia ? window.matchMedia("(max-width: 560px)") : { matches: false };

  // "Picture it" colours every grid by the values of the case's first input tensor; null when off.
  function pictureColours(inputs) {
    if (!picture || !inputs) return null;
    for (var k in inputs) if (inputs[k] && inputs[k].shape) return KGrid.colourMap(inputs[k]);
    return null;
  }
  function firstTensor(inputs) {
    for (var k in inputs || {}) if (inputs[k] && inputs[k].shape) return [k, inputs[k]];
    return null;
  }
  function cues() { KGrid.cue(document.getElementById("main"), L["ex.scroll_cue"]); }
  window.addEventListener("resize", cues);

  // --- Editor and its server-side draft --------------------------------------------------------------------
  var editor = null;
  var host = document.getElementById("editor");
  var draftTimer = null, draftStatus = document.getElementById("draft-status"), savedText = null;
  // An exercise offered in torch and numpy: the learner's pick, sent with drafts and submissions.
  var offered = page.exercise.frameworks || [];
  var framework = page.exercise.framework;
  function saveDraft() {
    if (!page.draftUrl || !editor) return;
    var code = editor.getValue();
    if (code === savedText) return;
    var body = { code: code };
    if (offered.length) body.framework = framework;  // one draft per framework
    fetch(page.draftUrl, { method: "PUT", credentials: "same-origin",
                           headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
                           body: JSON.stringify(body) })
      .then(function (r) {
        if (r.ok) savedText = code;
        if (draftStatus) { draftStatus.textContent = r.ok ? L["ex.draft_saved"] : L["ex.draft_failed"]; draftStatus.dataset.saved = r.ok ? "1" : "0"; }
      }, function () { if (draftStatus) draftStatus.textContent = L["ex.draft_failed"]; });
  }
  function changed() {
    if (draftStatus) draftStatus.dataset.saved = "0";
    clearTimeout(draftTimer);
    draftTimer = setTimeout(saveDraft, 700);
  }
  if (host) {
    var initial = page.code !== null && page.code !== undefined ? page.code : page.exercise.starter;
    savedText = initial;
    if (window.KiwameEditor) {
      editor = window.KiwameEditor.create(host, initial, { onSubmit: submit, label: L["ex.editor"], onChange: changed });
    } else {
      var ta = el("textarea");
      ta.value = initial;
      ta.setAttribute("aria-label", L["ex.editor"]);
      ta.addEventListener("input", changed);
      host.appendChild(ta);
      editor = { getValue: function () { return ta.value; }, setValue: function (v) { ta.value = v; }, focus: function () { ta.focus(); } };
    }
    var reset = document.getElementById("reset");
    if (reset) reset.addEventListener("click", function () { editor.setValue(page.exercise.starter); changed(); editor.focus(); });
    window.addEventListener("pagehide", saveDraft);
    // The torch/numpy switch: keep the draft of the framework left, open the other one's draft or starter.
    Array.prototype.forEach.call(document.querySelectorAll('input[name="framework"]'), function (radio) {
      radio.addEventListener("change", function () {
        if (!radio.checked || radio.value === framework) return;
        clearTimeout(draftTimer);
        saveDraft();
        var code = editor.getValue();
        offered.forEach(function (f) { if (f.name === framework) f.code = code; });
        var next = offered.filter(function (f) { return f.name === radio.value; })[0];
        if (!next) return;
        framework = next.name;
        page.exercise.starter = next.starter;
        var text = next.code !== null && next.code !== undefined ? next.code : next.starter;
        savedText = text;
        editor.setValue(text);
        var tag = document.getElementById("ex-framework");
        if (tag) tag.textContent = framework;
        if (draftStatus) { draftStatus.textContent = ""; draftStatus.dataset.saved = "1"; }
        window.dispatchEvent(new Event("kiwame:framework"));
      });
    });
  }
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey) && !(host && host.contains(ev.target))) { ev.preventDefault(); submit(); }
  });

  // --- Predict, then run --------------------------------------------------------------------------------------
  var answerBox = document.getElementById("answer-box");
  var predictBox = document.getElementById("predict");
  function unlock(focus) {
    if (predictBox) predictBox.hidden = true;
    if (answerBox) { answerBox.inert = false; answerBox.classList.remove("locked"); }
    if (focus !== false && editor) editor.focus();
  }
  function openPredict(auto) {
    if (!predictBox) return;
    predictBox.hidden = false;
    if (answerBox) { answerBox.inert = true; answerBox.classList.add("locked"); }
    KPredict.mount(document.getElementById("predict-body"), { url: page.predictUrl, labels: L, csrf: csrf, onUnlock: unlock, auto: auto === true });
  }
  var predictOpen = document.getElementById("predict-open");
  if (predictOpen) predictOpen.addEventListener("click", function () { openPredict(false); predictBox.scrollIntoView({ block: "nearest" }); });
  if (page.predictFirst) openPredict(true);

  // The shape quiz answers with the same shape widget (without the position pick).
  var shapeHost = document.getElementById("shape-widget");
  if (shapeHost) shapeHost.appendChild(KPredict.shapeField({ labels: L, id: "shape-answer", name: "y" }).node);

  // --- Examples: inputs, then expected outputs and the animation --------------------------------------------------
  function drawExamples() {
    var box = document.getElementById("examples");
    if (!box) return;
    box.replaceChildren();
    page.cases.forEach(function (c) {
      var item = el("div", "example");
      var wrap = el("div", "side");
      var colours = pictureColours(c.inputs);
      var gl = KVerdict.gridLabels(L);
      Object.keys(c.inputs).forEach(function (name) {
        wrap.appendChild(KGrid.render(c.inputs[name], { name: name, labels: gl, colours: colours, collapse: narrow.matches }));
      });
      var exp = expected[c.name];
      if (exp) {
        wrap.appendChild(el("span", "arrow", "→"));
        var fig = KGrid.render(exp, { name: L["ex.expected_out"], labels: gl, colours: colours, variable: "", collapse: narrow.matches });
        fig.classList.add("expected-example");
        wrap.appendChild(fig);
      }
      item.appendChild(wrap);
      var src = firstTensor(c.inputs);
      if (exp && src && exp.shape && exp.values) {
        var play = el("button", "play", "▶ " + L["ex.playing"]);
        play.type = "button";
        play.dataset.case = c.name;
        var stage = el("div", "anim-host");
        play.addEventListener("click", function () {
          var anim = KAnim.build(src[1], exp, { labels: L, inName: src[0], outName: "y" });
          stage.replaceChildren(anim.node);
          play.textContent = "▶ " + L["ex.replay"];
          anim.play();
          cues();
        });
        item.appendChild(play);
        item.appendChild(stage);
      }
      box.appendChild(item);
    });
    cues();
  }
  function loadExamples() {
    if (!page.examplesUrl || !page.cases.length) return;
    var asked = framework;
    var url = offered.length ? page.examplesUrl + "?framework=" + encodeURIComponent(framework) : page.examplesUrl;
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : { cases: [] }; })
      .then(function (body) {
        if (asked !== framework) return;  // the learner switched again meanwhile
        (body.cases || []).forEach(function (c) { if (c.expected) expected[c.name] = c.expected; });
        drawExamples();
      }, function () {});
  }
  loadExamples();
  // After a framework switch: that framework's inputs (numpy arrays or tensors) and expected outputs.
  window.addEventListener("kiwame:framework", function () {
    var next = offered.filter(function (f) { return f.name === framework; })[0];
    if (!next || !next.cases) return;
    page.cases = next.cases;
    expected = {};
    drawExamples();
    loadExamples();
  });

  // --- Submit -----------------------------------------------------------------------------------------------
  var button = document.getElementById("submit");
  var spinner = document.getElementById("spinner");
  var out = document.getElementById("result");
  var nextBox = document.getElementById("next");
  var busy = false;

  function payload() {
    if (page.exercise.kind === "code") return offered.length ? { code: editor.getValue(), framework: framework } : { code: editor.getValue() };
    if (page.exercise.kind === "shape") return { answer: KPredict.parseShape(document.getElementById("shape-answer").value) || [] };
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
    if (reveal === true) body.reveal = true;  // "show me" / "give up": the whole hint ladder at once
    busy = true;
    button.disabled = true;
    spinner.dataset.on = "1";
    out.setAttribute("aria-busy", "true");
    if (editor && page.draftUrl) { clearTimeout(draftTimer); saveDraft(); }
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
      renderResult(lastResult, "");
      if (res.body.state) updateState(res.body.state);
      showNext(res.body.next, lastResult.passed);
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

  function showError(message) { out.replaceChildren(el("div", "flash error", message)); }
  function updateState(state) {
    var badge = document.getElementById("ex-state");
    if (!badge) return;
    badge.className = "state state-" + state;
    badge.textContent = L["state." + state] || state;
  }
  function showNext(next, passed) {
    if (!nextBox) return;
    nextBox.replaceChildren();
    if (!passed) return;
    if (next) {
      var a = el("a", "btn btn-primary next-link", L["ex.next"] + " → " + next.title);
      a.href = next.url;
      a.id = "next-link";
      nextBox.appendChild(a);
    } else {
      nextBox.appendChild(el("p", "muted", L["ex.all_done"]));
    }
  }

  function renderResult(result, caption) {
    out.replaceChildren(KVerdict.render(result, { labels: L, lang: page.lang, kind: page.exercise.kind, cases: page.cases,
                                                  colours: pictureColours, collapse: narrow.matches, caption: caption,
                                                  onReveal: function () { submit(true); } }));
    cues();
  }

  // --- Picture it -----------------------------------------------------------------------------------------------
  var toggle = document.getElementById("picture");
  if (toggle) toggle.addEventListener("change", function () {
    picture = toggle.checked;
    drawExamples();
    if (lastResult) renderResult(lastResult, "");
  });

  drawExamples();
  if (page.result) {
    lastResult = page.result;
    renderResult(page.result, page.resumed ? L["ex.resumed"] : "");
    showNext(page.next, page.result.passed);
  }
})();
