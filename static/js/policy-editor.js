// Policy editor enhancement: a line-number gutter that marks lines with errors, and links
// from each error to its line. The plain textarea works without this file.
(function () {
  "use strict";
  function setup() {
    var area = document.getElementById("policy-text");
    if (!area || area.dataset.enhanced) return;
    area.dataset.enhanced = "1";
    var gutter = document.createElement("div");
    gutter.className = "editor-gutter";
    gutter.setAttribute("aria-hidden", "true");
    area.parentNode.insertBefore(gutter, area);

    function errorLines() {
      var box = document.querySelector("#validation [data-error-lines]");
      var raw = box ? box.getAttribute("data-error-lines") : "";
      var out = {};
      raw.split(",").forEach(function (n) { if (n) out[n] = true; });
      return out;
    }
    function render() {
      var count = area.value.split("\n").length;
      var bad = errorLines();
      var html = [];
      for (var i = 1; i <= count; i++) {
        html.push('<span' + (bad[i] ? ' class="has-error"' : "") + ">" + i + "</span>");
      }
      gutter.innerHTML = html.join("");
      gutter.scrollTop = area.scrollTop;
    }
    function goToLine(line) {
      var lines = area.value.split("\n");
      var start = 0;
      for (var i = 0; i < line - 1 && i < lines.length; i++) start += lines[i].length + 1;
      area.focus();
      area.setSelectionRange(start, start + (lines[line - 1] || "").length);
      var lineHeight = parseFloat(getComputedStyle(area).lineHeight) || 18;
      area.scrollTop = Math.max(0, (line - 3) * lineHeight);
    }
    area.addEventListener("input", render);
    area.addEventListener("scroll", function () { gutter.scrollTop = area.scrollTop; });
    document.body.addEventListener("htmx:afterSwap", render);
    document.addEventListener("click", function (event) {
      var link = event.target.closest ? event.target.closest("a.line-ref") : null;
      if (!link) return;
      event.preventDefault();
      goToLine(parseInt(link.getAttribute("data-line"), 10) || 1);
    });
    render();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
  else setup();
})();
