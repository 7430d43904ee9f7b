/* Landing page: the seed article's permute(1, 0), computed and animated in the visitor's browser. */
(function () {
  "use strict";
  var node = document.getElementById("demo-data");
  if (!node) return;
  var data = JSON.parse(node.textContent);
  var box = document.getElementById("demo");
  function run() {
    var x = data.demo.input;
    var y = KAnim.permute(x, data.demo.perm);
    var anim = KAnim.build(x, y, { labels: data.labels, inName: "x", outName: "y", call: data.demo.call });
    box.replaceChildren(anim.node);
    anim.play();
  }
  document.getElementById("demo-play").addEventListener("click", run);
  run();
})();
