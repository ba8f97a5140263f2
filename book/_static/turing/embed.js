/* On the book page that embeds the Turing test (book/turing_test.md): tell the frame whether
 * the book is shown light or dark. The theme (sphinx-book-theme) sets data-theme on <html>;
 * "auto" or nothing means the reader's system setting. Sent when the frame loads, when it
 * asks, and whenever the reader switches the theme. postMessage works from file:// too. */
(function () {
  "use strict";
  var frame = document.getElementById("turing-frame");
  if (!frame) { return; }
  var root = document.documentElement;
  var dark = window.matchMedia("(prefers-color-scheme: dark)");

  function theme() {
    var t = root.getAttribute("data-theme");
    if (t === "light" || t === "dark") { return t; }
    return dark.matches ? "dark" : "light";
  }

  function send() {
    if (frame.contentWindow) {
      frame.contentWindow.postMessage({ type: "colorbook-theme", theme: theme() }, "*");
    }
  }

  frame.addEventListener("load", send);
  window.addEventListener("message", function (e) {
    if (e.source === frame.contentWindow && e.data && e.data.type === "colorbook-theme-request") {
      send();
    }
  });
  new MutationObserver(send).observe(root, { attributes: true, attributeFilter: ["data-theme"] });
  if (dark.addEventListener) { dark.addEventListener("change", send); }
  send();
}());
