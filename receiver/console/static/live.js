// runway-relay console: the script of every page (the deliveries page adds preview.js).
// Every page works without it; with it,
// (1) a form marked data-confirm asks in a dialog instead of on a confirmation page,
// (2) a button marked data-copy (hidden without this script) copies the text of the element
// it names (a secret shown once, a link), and
// (3) the page listens to the relay's live stream and, when a task changes or a delivery
// attempt ends, fetches itself again and swaps in the parts marked data-live, so the
// server stays the one place that renders anything.
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (!question || form.querySelector("input[name=confirm]")) {
      return;
    }
    if (!window.confirm(question)) {
      event.preventDefault();
      return;
    }
    var yes = document.createElement("input");
    yes.type = "hidden";
    yes.name = "confirm";
    yes.value = "yes";
    form.appendChild(yes);
  });

  function copied(button, done) {
    var label = button.getAttribute("data-was") || button.textContent;
    button.setAttribute("data-was", label);
    button.textContent = done ? "Copied" : "Select and copy";
    button.setAttribute("data-copied", done ? "yes" : "no");
    window.setTimeout(function () { button.textContent = label; }, 2000);
  }

  function copy(button) {
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) {
      return;
    }
    var text = source.textContent.trim();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { copied(button, true); },
        function () { copied(button, false); }
      );
      return;
    }
    // Over plain HTTP the clipboard API is not there: select the text and copy that.
    var range = document.createRange();
    range.selectNodeContents(source);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    var done = false;
    try { done = document.execCommand("copy"); } catch (e) { done = false; }
    copied(button, done);
  }

  // The buttons show only where this script runs, swapped-in parts' too (see swap).
  function arm(root) {
    root.querySelectorAll("button[data-copy]").forEach(function (b) { b.hidden = false; });
  }
  arm(document);
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-copy]");
    if (button) {
      copy(button);
    }
  });

  var streamUrl = document.body.getAttribute("data-stream");
  if (!streamUrl || !window.EventSource) {
    return;
  }
  var indicator = document.getElementById("live");
  var timer = null;
  var busy = false;
  var again = false;

  function show(state, text) {
    if (indicator) {
      indicator.hidden = false;
      indicator.className = "live " + state;
      indicator.textContent = text;
    }
  }

  function swap(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html");
    document.querySelectorAll("[data-live]").forEach(function (old) {
      var next = fresh.getElementById(old.id);
      // Leave a part alone while someone is typing in it, and when nothing changed
      // (so a playing video is not reset).
      if (!next || old.contains(document.activeElement) || next.innerHTML === old.innerHTML) {
        return;
      }
      old.innerHTML = next.innerHTML;
      arm(old);
    });
    document.body.setAttribute("data-refreshed", String(Date.now()));
  }

  function refresh() {
    timer = null;
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", redirect: "error" })
      .then(function (answer) { return answer.ok ? answer.text() : null; })
      .then(function (html) { if (html) { swap(html); } })
      .catch(function () { /* the next change tries again */ })
      .then(function () {
        busy = false;
        if (again) {
          again = false;
          schedule();
        }
      });
  }

  function schedule() {
    if (timer === null) {
      timer = window.setTimeout(refresh, 300);
    }
  }

  // EventSource reconnects by itself (the stream asks for 1 s) and sends the last event id
  // it saw, so a restart of the relay loses nothing.
  var source = new EventSource(streamUrl);
  source.addEventListener("task", schedule);
  source.addEventListener("attempt", schedule);
  source.addEventListener("open", function () { show("on", "live"); });
  source.addEventListener("error", function () { show("off", "reconnecting…"); });
})();
