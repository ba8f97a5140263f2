/* The colorization Turing test (Zhang, Isola and Efros 2016, section 3.1), in the browser.
 *
 * Pairs come from window.TURING_PAIRS (pairs.js, written by chapter 06) or, when that file is
 * absent, window.TURING_DEFAULT_PAIRS (pairs.default.js, a committed demo set):
 *   {title, source, pairs: [{id, real: "path.png", fake: "path.png", method}]}
 * Each pair is shown once, in random order, the real photo on a random side. The reader
 * clicks the photo they believe is real. The fooling rate is the share of pairs where they
 * picked the colorized one. Answers stay in this page (nothing is sent anywhere) and can be
 * downloaded as CSV.
 *
 * URL options: ?n=10 (play only 10 pairs), ?seed=42 (reproducible order and sides),
 * ?feedback=1 (say right or wrong after each answer), ?theme=light|dark.
 *
 * A set may carry a `note` (how its pairs were chosen), shown above the game.
 * Keyboard: 1 / 2 choose left / right; the arrow keys move the focus between the two photos
 * and Enter or Space chooses the focused one. Each new pair and the result are announced to
 * screen readers (a polite live region); the result heading takes the focus.
 * Theme: ?theme= wins; else the embedding book page's theme (its embed.js posts
 * {type: "colorbook-theme", theme} when the frame loads and when the reader switches);
 * else the system setting (prefers-color-scheme, in turing.css).
 */
(function () {
  "use strict";

  var params = new URLSearchParams(window.location.search);
  var manifest = window.TURING_PAIRS || window.TURING_DEFAULT_PAIRS || null;

  function $(id) { return document.getElementById(id); }

  var DEFAULT_NOTE = "This pair set does not say how its photos were chosen.";

  /* Light or dark, as the book page around the frame (or ?theme=) says; anything else
     (the book's "auto", no word at all) follows the system setting. */
  var systemDark = window.matchMedia("(prefers-color-scheme: dark)");
  var chosen = null;
  function applyTheme(theme) {
    chosen = (theme === "light" || theme === "dark") ? theme : null;
    document.documentElement.setAttribute(
      "data-theme", chosen || (systemDark.matches ? "dark" : "light"));
  }

  function followTheme() {
    var fixed = params.get("theme");
    applyTheme(fixed);
    systemDark.addEventListener("change", function () { if (!chosen) applyTheme(null); });
    if (fixed) { return; }
    window.addEventListener("message", function (e) {
      if (e.source === window.parent && e.data && e.data.type === "colorbook-theme") {
        applyTheme(e.data.theme);
      }
    });
    if (window.parent !== window) {  /* ask, in case the page posted before we listened */
      window.parent.postMessage({ type: "colorbook-theme-request" }, "*");
    }
  }

  function announce(text) {
    var live = $("announce");
    live.textContent = "";
    setTimeout(function () { live.textContent = text; }, 50);
  }

  /* A small seeded generator (mulberry32) so that ?seed= gives the same game. */
  function makeRandom(seed) {
    if (seed === null || seed === "" || isNaN(Number(seed))) { return Math.random; }
    var a = Number(seed) >>> 0;
    return function () {
      a = (a + 0x6D2B79F5) >>> 0;
      var t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  function shuffle(items, random) {  /* Fisher-Yates */
    var a = items.slice();
    for (var i = a.length - 1; i > 0; i--) {
      var j = Math.floor(random() * (i + 1));
      var t = a[i]; a[i] = a[j]; a[j] = t;
    }
    return a;
  }

  var state = { trials: [], index: 0, answers: [], shownAt: 0 };

  function newGame() {
    var random = makeRandom(params.get("seed"));
    var pairs = shuffle(manifest.pairs, random);
    var n = parseInt(params.get("n"), 10);
    if (n > 0 && n < pairs.length) { pairs = pairs.slice(0, n); }
    state.trials = pairs.map(function (p) {
      return { pair: p, realSide: random() < 0.5 ? "left" : "right" };
    });
    state.index = 0;
    state.answers = [];
  }

  function show(section) {
    ["intro", "trial", "result"].forEach(function (id) { $(id).hidden = id !== section; });
  }

  function showTrial() {
    var t = state.trials[state.index];
    var left = t.realSide === "left" ? t.pair.real : t.pair.fake;
    var right = t.realSide === "left" ? t.pair.fake : t.pair.real;
    $("left-img").src = left;
    $("right-img").src = right;
    $("progress").textContent = "Pair " + (state.index + 1) + " of " + state.trials.length;
    $("score").textContent = "";
    state.shownAt = Date.now();
    var first = $("trial").hidden;
    show("trial");
    if (first || !$("trial").contains(document.activeElement)) { $("left").focus(); }
    announce("Pair " + (state.index + 1) + " of " + state.trials.length +
             ": which photo is real? 1 for left, 2 for right.");
  }

  function answer(side) {
    if ($("trial").hidden || state.index >= state.trials.length) { return; }
    var t = state.trials[state.index];
    var correct = side === t.realSide;
    state.answers.push({
      trial: state.index + 1,
      pair_id: t.pair.id,
      method: t.pair.method || "",
      left: t.realSide === "left" ? "real" : "colorized",
      right: t.realSide === "right" ? "real" : "colorized",
      chosen_side: side,
      correct: correct ? 1 : 0,
      fooled: correct ? 0 : 1,
      response_ms: Date.now() - state.shownAt
    });
    if (params.get("feedback") === "1") {
      $("feedback").textContent = correct ? "Right: that was the real photo."
                                          : "Fooled: that one was colorized.";
    }
    state.index += 1;
    if (state.index < state.trials.length) { showTrial(); } else { showResult(); }
  }

  function showResult() {
    var n = state.answers.length;
    var fooled = state.answers.filter(function (a) { return a.fooled === 1; }).length;
    var rate = n ? (100 * fooled / n) : 0;
    $("fooling-rate").textContent = rate.toFixed(1) + "%";
    $("fooled-count").textContent = String(fooled);
    $("trial-count").textContent = String(n);
    $("accuracy").textContent = "You found the real photo " + (n - fooled) + " times out of " +
      n + ".";
    document.body.setAttribute("data-fooling-rate", (fooled / Math.max(n, 1)).toFixed(6));
    show("result");
    $("result-title").focus();
    announce("Result: fooling rate " + rate.toFixed(1) + "%. You picked the colorized photo " +
             fooled + " times out of " + n + ".");
  }

  var COLUMNS = ["trial", "pair_id", "method", "left", "right", "chosen_side", "correct",
                 "fooled", "response_ms"];

  function csvCell(value) {
    var s = String(value);
    return /[",\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }

  function toCsv(answers) {
    var lines = [COLUMNS.join(",")];
    answers.forEach(function (a) {
      lines.push(COLUMNS.map(function (c) { return csvCell(a[c]); }).join(","));
    });
    return lines.join("\n") + "\n";
  }

  function download() {
    var blob = new Blob([toCsv(state.answers)], { type: "text/csv" });
    var url = URL.createObjectURL(blob);
    var a = document.createElement("a");
    a.href = url;
    a.download = "turing_test_answers.csv";
    document.body.appendChild(a);
    a.click();
    document.body.removeChild(a);
    setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
  }

  function onKey(e) {
    if ($("trial").hidden || e.altKey || e.ctrlKey || e.metaKey) { return; }
    if (e.key === "1") { e.preventDefault(); answer("left"); }
    else if (e.key === "2") { e.preventDefault(); answer("right"); }
    else if (e.key === "ArrowLeft") { e.preventDefault(); $("left").focus(); }
    else if (e.key === "ArrowRight") { e.preventDefault(); $("right").focus(); }
  }

  function init() {
    followTheme();
    if (!manifest || !manifest.pairs || !manifest.pairs.length) {
      $("intro").hidden = true;
      $("no-pairs").hidden = false;
      return;
    }
    $("set-info").textContent = manifest.pairs.length + " pairs" +
      (manifest.source ? " (" + manifest.source + ")" : "") + ".";
    $("pairs-note").textContent = manifest.note ? "How the pairs were chosen: " + manifest.note
                                                : DEFAULT_NOTE;
    $("start").addEventListener("click", function () { newGame(); showTrial(); });
    $("again").addEventListener("click", function () { newGame(); showTrial(); });
    $("left").addEventListener("click", function () { answer("left"); });
    $("right").addEventListener("click", function () { answer("right"); });
    $("download").addEventListener("click", download);
    document.addEventListener("keydown", onKey);
    /* for tests and curious readers: the answers so far, as CSV */
    window.turingAnswersCsv = function () { return toCsv(state.answers); };
  }

  init();
}());
