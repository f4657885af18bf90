// runway-relay console and portal: the live preview of a downstream's filter, transform
// and headers, beside each form that holds them (a new downstream's, and each one's edit
// form). As the operator types, it asks the preview route (the same preview as
// POST /v1/downstreams/preview, with the session and its CSRF token) and shows which event
// it ran on (the downstream's newest real one by default), whether it matches, why not,
// the request that would go, or the expression's error in words with a caret under its
// place. Without it the forms work as before.
(function () {
  "use strict";

  if (!window.fetch) {
    return;
  }
  var WATCHED = ["filter", "transform", "headers", "format", "signing", "type", "task_id", "downstream"];
  var SOURCES = {
    downstream: "its newest real event",
    task: "a real event (a task's newest)",
    example: "an example event"
  };

  function request(r) {
    // The path is what the transform adds to the downstream's URL; none: the URL itself.
    var lines = [r.method + " " + (r.path || "(its URL)")];
    Object.keys(r.headers).forEach(function (name) {
      lines.push(name + ": " + r.headers[name]);
    });
    lines.push("", JSON.stringify(r.body, null, 2));
    return lines.join("\n");
  }

  function follow(panel) {
    var form = panel.closest("form");
    if (!form) {
      return;
    }
    var status = panel.querySelector(".preview-status");
    var shown = panel.querySelector(".preview-request");
    var caret = panel.querySelector(".preview-caret");
    var source = panel.querySelector(".preview-source");
    var timer = null;
    var asked = 0; // only the answer to the newest question is shown
    panel.hidden = false;

    function value(name) {
      var field = form.querySelector("[name='" + name + "']");
      return field ? field.value : "";
    }

    function say(state, text) {
      status.className = "preview-status " + state;
      status.textContent = text;
      panel.setAttribute("data-state", state);
    }

    function pointAt(detail) {
      // "filter is not valid CEL at 2:5: ...": the line of the field's own text with a
      // caret under the place, drawn here from what was typed (the answer never quotes it).
      var found = /\b(filter|transform) [^:]*? at (\d+):(\d+)/.exec(detail || "");
      if (!caret) {
        return;
      }
      caret.hidden = true;
      caret.textContent = "";
      var line = found ? value(found[1]).split("\n")[Number(found[2]) - 1] : undefined;
      if (line === undefined) {
        return;
      }
      var column = Math.max(Number(found[3]) - 1, 0);
      caret.textContent = found[1] + ", line " + found[2] + ":\n" + line + "\n" +
        new Array(column + 1).join(" ") + "^";
      caret.hidden = false;
      // A line wider than its box scrolls in it: brought to the caret, kept in sight.
      var width = caret.scrollWidth / Math.max(line.length + 1, 1);
      caret.scrollLeft = Math.max(0, column * width - caret.clientWidth / 2);
    }

    function answer(code, body) {
      pointAt(code === 200 ? "" : body && body.detail);
      if (code !== 200) {
        shown.hidden = true;
        say("failed", (body && body.detail) || "the preview could not be made (HTTP " + code + ")");
        return;
      }
      panel.setAttribute("data-event", body.event.type);
      panel.setAttribute("data-source", body.source);
      if (source) {
        var task = body.event.data && body.event.data.task_id;
        source.textContent = "Tried on " + (SOURCES[body.source] || "an event") + ": " +
          body.event.type + (body.source === "example" ? "" : " of " + task);
      }
      var verdict = body.matched ? "Matched" : "Not matched: " + (body.reason || "the filter refused it");
      if (body.transform_error) {
        say("failed", verdict + "; the transform failed on this event: " + body.transform_error);
      } else if (body.matched) {
        say("matched", "Matched: this request would go.");
      } else {
        say("refused", "Not matched: " + (body.reason || "the filter refused the event"));
      }
      shown.hidden = !body.request;
      shown.textContent = body.request ? request(body.request) : "";
    }

    function ask() {
      timer = null;
      var mine = ++asked;
      var fields = { csrf: value("csrf") };
      WATCHED.forEach(function (name) { fields[name] = value(name); });
      panel.setAttribute("data-busy", "true");
      fetch(panel.getAttribute("data-preview"), {
        method: "POST",
        credentials: "same-origin",
        redirect: "error",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(fields)
      })
        .then(function (r) {
          return r.json().then(function (body) { return [r.status, body]; });
        })
        .then(function (got) {
          if (mine === asked) { answer(got[0], got[1]); }
        })
        .catch(function () {
          if (mine === asked) { say("failed", "the relay could not be reached for a preview"); }
        })
        .then(function () {
          if (mine === asked) { panel.removeAttribute("data-busy"); }
        });
    }

    function later() {
      if (timer !== null) {
        window.clearTimeout(timer);
      }
      timer = window.setTimeout(ask, 300);
    }

    WATCHED.forEach(function (name) {
      var field = form.querySelector("[name='" + name + "']");
      if (field) {
        field.addEventListener("input", later);
        field.addEventListener("change", later);
      }
    });
    var details = panel.closest("details");
    if (value("filter") || value("transform")) {
      if (details && !details.open) {
        // An edit form: asked once it is opened, not for every closed one on the page.
        details.addEventListener("toggle", function once() {
          details.removeEventListener("toggle", once);
          ask();
        });
      } else {
        ask(); // the form came back with a refusal: show what it held at once
      }
    }
  }

  Array.prototype.forEach.call(document.querySelectorAll(".preview[data-preview]"), follow);
})();
