"""The page a share link opens: a progress bar while the task runs, then its video, image or
audio. It reads the task's view from the link's own `/task` and follows `/stream`."""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Render</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 48rem; margin: 2rem auto; padding: 0 1rem; }
#bar { height: 0.75rem; background: #e5e7eb; border-radius: 0.375rem; overflow: hidden; }
#fill { height: 100%; width: 0; background: #2563eb; transition: width 0.5s; }
video, img, audio { max-width: 100%; margin-top: 1rem; display: block; }
#state { margin: 0.5rem 0; color: #374151; }
</style>
</head>
<body>
<div id="bar" role="progressbar" aria-valuemin="0" aria-valuemax="100"><div id="fill"></div></div>
<p id="state">Loading…</p>
<div id="result"></div>
<script>
"use strict";
const base = location.pathname.replace(/\\/$/, "");
const fill = document.getElementById("fill");
const bar = document.getElementById("bar");
const state = document.getElementById("state");
const result = document.getElementById("result");
let shown = false;

function element(file) {
  const type = file.content_type || "";
  const tag = type.startsWith("image/") ? "img" : type.startsWith("audio/") ? "audio" : "video";
  const el = document.createElement(tag);
  el.src = file.url;
  if (tag !== "img") { el.controls = true; }
  el.className = "render";
  return el;
}

function show(view) {
  const share = view.progress == null ? 0 : Math.round(view.progress * 100);
  fill.style.width = share + "%";
  bar.setAttribute("aria-valuenow", String(share));
  const running = view.progress != null && view.state === "running";
  let text = view.state + (running ? " " + share + "%" : "");
  if (view.estimated_end) {
    const left = Math.max(0, Math.round(view.estimated_end - Date.now() / 1000));
    text += ", about " + left + " s left";
  }
  if (view.copying) { text += ", copying the files"; }
  if (view.error) { text += ": " + view.error; }
  state.textContent = text;
  state.dataset.state = view.state;
  if (shown || view.state !== "succeeded" || view.copying) { return; }
  const files = view.files.length ? view.files : view.outputs.map((url) => ({ url: url }));
  const main = files.filter((f) => f.role !== "poster");
  (main.length ? main : files).forEach((f) => result.appendChild(element(f)));
  shown = true;
}

fetch(base + "/task").then((r) => r.json()).then(show);
const stream = new EventSource(base + "/stream");
stream.addEventListener("task", (e) => show(JSON.parse(e.data)));
stream.onerror = () => { if (shown) { stream.close(); } };
</script>
</body>
</html>
"""
