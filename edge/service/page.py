"""The live-view page served at ``/``: the MJPEG stream plus numbers polled from ``status.json`` (people
counted, the recent events; the telemetry table only where there is telemetry: jtop on a Jetson)."""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edge live view</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body{font:14px system-ui,sans-serif;margin:1em;background:#111;color:#ddd}
 main{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}
 img{max-width:100%;background:#000;min-width:320px;min-height:240px}
 table{border-collapse:collapse} td,th{padding:2px 8px;text-align:right} th{text-align:left;color:#999}
 .big{font-size:2em;font-weight:bold} #error,.alert{color:#f66}
</style></head>
<body data-updates="0">
<h1>edge <span id="info"></span></h1>
<main>
 <img id="stream" alt="live stream">
 <section>
  <div><span class="big" id="fps">–</span> fps · frame <span id="frames">–</span>
   · up <span id="uptime">–</span> s</div>
  <h3>latency (ms, last frames)</h3><table id="latency"></table>
  <h3>people</h3><table id="people"></table>
  <h3>recent events</h3><table id="events"></table>
  <h3>faces</h3><table id="faces"></table>
  <h3>detections by class</h3><table id="classes"></table>
  <h3>counters</h3><table id="counters"></table>
  <div id="telemetry-box" hidden><h3>telemetry</h3><table id="telemetry"></table></div>
  <div id="error"></div>
 </section>
</main>
<script>
"use strict";
const token = new URLSearchParams(location.search).get("token");
const q = token ? "?token=" + encodeURIComponent(token) : "";
document.getElementById("stream").src = "stream.mjpg" + q;
function rows(id, obj, fmt) {
  const t = document.getElementById(id);
  t.innerHTML = "";
  for (const [k, v] of Object.entries(obj || {})) {
    const r = t.insertRow();
    r.insertCell().outerHTML = "<th></th>";
    r.cells[0].textContent = k;
    r.insertCell().textContent = fmt(v);
  }
}
// people: since start, last minute, last hour (edge.run.people's stats)
function peopleTable(p) {
  const t = document.getElementById("people");
  t.innerHTML = "<tr><th></th><th>total</th><th>minute</th><th>hour</th></tr>";
  const pct = v => (v === null || v === undefined ? "–" : (100 * v).toFixed(0) + " %");
  for (const [k, fmt] of [["people", String], ["with_mask", String], ["without_mask", String], ["compliance", pct]]) {
    const r = t.insertRow();
    r.insertCell().outerHTML = "<th></th>";
    r.cells[0].textContent = k;
    for (const w of [p, p.per_minute || {}, p.per_hour || {}]) r.insertCell().textContent = k in w ? fmt(w[k]) : "–";
  }
}
// the last events, newest first: a no_mask alert in red
function eventsTable(events) {
  const t = document.getElementById("events");
  t.innerHTML = "<tr><th>time</th><th>event</th><th>track</th><th>label</th><th>conf.</th></tr>";
  for (const e of events || []) {
    const r = t.insertRow();
    const when = e.last_seen || e.first_seen;
    r.insertCell().textContent = when ? new Date(when * 1000).toLocaleTimeString() : "–";
    r.insertCell().textContent = e.type === "person" ? e.phase : e.type;
    r.insertCell().textContent = e.track_id;
    r.insertCell().textContent = e.label;
    r.insertCell().textContent = typeof e.confidence === "number" ? e.confidence.toFixed(2) : "–";
    if (e.type === "no_mask") r.className = "alert";
  }
}
const num = v => (typeof v === "number" ? v.toFixed(2) : (typeof v === "object" ? JSON.stringify(v) : String(v)));
// data-* attributes on <body> let a monitor (or a test) see that numbers and pictures change.
const canvas = document.createElement("canvas");
let lastPixel = null;
function sampleStream() {
  const img = document.getElementById("stream");
  document.body.dataset.streamWidth = img.naturalWidth;
  if (!img.naturalWidth) return;
  canvas.width = 1; canvas.height = 1;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0, 1, 1);
  const pixel = ctx.getImageData(0, 0, 1, 1).data.join(",");
  if (pixel !== lastPixel) {
    document.body.dataset.streamChanges = Number(document.body.dataset.streamChanges || 0) + 1;
    lastPixel = pixel;
  }
}
async function poll() {
  try {
    const s = await (await fetch("status.json" + q, {cache: "no-store"})).json();
    document.getElementById("fps").textContent = s.fps.toFixed(1);
    document.getElementById("frames").textContent = s.frames;
    document.getElementById("uptime").textContent = s.uptime_s;
    document.getElementById("info").textContent = Object.values(s.info || {}).join(" · ");
    rows("latency", s.latency_ms, v => (v.p50 === undefined ? "–" : v.p50.toFixed(2) + " (p90 " + v.p90.toFixed(2) + ")"));
    peopleTable(s.people || {});
    eventsTable(s.events);
    rows("faces", s.faces, String);
    rows("classes", s.classes, String);
    rows("counters", s.counters, String);
    rows("telemetry", s.telemetry, num);
    document.getElementById("telemetry-box").hidden = !Object.keys(s.telemetry || {}).length;  // no jtop: none
    document.getElementById("error").textContent = "";
    document.body.dataset.updates = Number(document.body.dataset.updates) + 1;
    document.body.dataset.lastFrame = s.frames;
    sampleStream();
  } catch (e) {
    document.getElementById("error").textContent = "no status: " + e;
  }
  setTimeout(poll, 500);
}
poll();
</script>
</body></html>
"""
