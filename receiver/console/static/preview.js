// runway-relay console: the live preview of a new downstream's filter, transform and
// headers (deliveries page). As the operator types, it asks the console's preview route
// (the same preview as POST /v1/downstreams/preview, with the session and its CSRF token)
// and shows whether the example event matches, why not, the request that would go, or
// the expression's error with its position. Without it the form works as before.
(function () {
  "use strict";

  var panel = document.getElementById("preview");
  var form = panel && panel.closest("form");
  if (!form || !window.fetch) {
    return;
  }
  var status = document.getElementById("preview-status");
  var shown = document.getElementById("preview-request");
  var watched = ["filter", "transform", "headers", "format", "type", "task_id"];
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

  function request(r) {
    // The path is what the transform adds to the downstream's URL; none: the URL itself.
    var lines = [r.method + " " + (r.path || "(its URL)")];
    Object.keys(r.headers).forEach(function (name) {
      lines.push(name + ": " + r.headers[name]);
    });
    lines.push("", JSON.stringify(r.body, null, 2));
    return lines.join("\n");
  }

  function answer(status, body) {
    if (status !== 200) {
      shown.hidden = true;
      say("failed", (body && body.detail) || "the preview could not be made (HTTP " + status + ")");
      return;
    }
    panel.setAttribute("data-event", body.event.type);
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
    watched.forEach(function (name) { fields[name] = value(name); });
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

  watched.forEach(function (name) {
    var field = form.querySelector("[name='" + name + "']");
    if (field) {
      field.addEventListener("input", later);
      field.addEventListener("change", later);
    }
  });
  if (value("filter") || value("transform")) {
    ask(); // the form came back with a refusal: show what it held at once
  }
})();
