/* Instructor's submission view: the learner's verdict with the same grids and case numbers they saw. */
(function () {
  "use strict";
  var node = document.getElementById("submission-data");
  if (!node) return;
  var data = JSON.parse(node.textContent);
  var out = document.getElementById("result");
  out.replaceChildren(KVerdict.render(data.result, { labels: data.labels, lang: data.lang, kind: data.kind, cases: data.cases }));
  KGrid.cue(out, data.labels["ex.scroll_cue"]);
})();
