"""The live-view page served at ``/``: the MJPEG stream, the people counters, charts of compliance and FPS
over the last minutes (inline SVG drawn from ``history.json``: no external script or style, the device may
be offline), the recent events with their snapshots, and numbers polled from ``status.json`` (the telemetry
table only where there is telemetry: jtop on a Jetson). It wraps to one column on a phone (375 px)."""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edge live view</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 *{box-sizing:border-box}
 body{font:14px system-ui,sans-serif;margin:0;padding:.6em;background:#111;color:#ddd;overflow-wrap:anywhere}
 h1{font-size:1.3em;margin:.2em 0} h3{margin:.8em 0 .3em;font-size:1em;color:#aaa}
 main{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}
 #view{flex:2 1 480px;min-width:0;max-width:100%} #side{flex:1 1 300px;min-width:0;max-width:100%}
 #stream{display:block;width:100%;max-width:1280px;background:#000;aspect-ratio:auto 16/9}
 table{border-collapse:collapse;display:block;max-width:100%;overflow-x:auto}
 td,th{padding:2px 8px;text-align:right} th{text-align:left;color:#999}
 .big{font-size:2em;font-weight:bold} #error,.alert{color:#f66}
 .cards{display:flex;flex-wrap:wrap;gap:.5em} .card{background:#1c1c1c;border-radius:6px;padding:.3em .6em}
 .card b{display:block;font-size:1.6em}
 .chart{width:100%;height:80px;background:#1a1a1a;border-radius:6px;display:block}
 .chart polyline{fill:none;stroke-width:2;vector-effect:non-scaling-stroke}
 #events{display:flex;flex-direction:column;gap:.4em}
 .ev{display:flex;gap:.5em;align-items:center;background:#1c1c1c;border-radius:6px;padding:.3em}
 .ev img{width:56px;height:56px;object-fit:cover;border-radius:4px;background:#000;flex:none}
 .ev div{min-width:0}
</style></head>
<body data-updates="0">
<h1>edge <span id="info"></span></h1>
<main>
 <section id="view">
  <img id="stream" alt="live stream">
  <div><span class="big" id="fps">–</span> fps · frame <span id="frames">–</span>
   · up <span id="uptime">–</span> s</div>
 </section>
 <section id="side">
  <div class="cards" id="counts"></div>
  <h3>people</h3><table id="people"></table>
  <h3>compliance, last minute (%)</h3>
  <svg class="chart" id="chart-compliance" viewBox="0 0 300 80" preserveAspectRatio="none">
   <polyline stroke="#6c6" points=""></polyline></svg>
  <h3>fps</h3>
  <svg class="chart" id="chart-fps" viewBox="0 0 300 80" preserveAspectRatio="none">
   <polyline stroke="#6af" points=""></polyline></svg>
  <div id="chart-note"></div>
  <h3>recent events</h3><div id="events"></div>
  <h3>latency (ms, last frames)</h3><table id="latency"></table>
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
const $ = id => document.getElementById(id);
$("stream").src = "stream.mjpg" + q;
function rows(id, obj, fmt) {
  const t = $(id);
  t.innerHTML = "";
  for (const [k, v] of Object.entries(obj || {})) {
    const r = t.insertRow();
    r.insertCell().outerHTML = "<th></th>";
    r.cells[0].textContent = k;
    r.insertCell().textContent = fmt(v);
  }
}
const pct = v => (v === null || v === undefined ? "–" : (100 * v).toFixed(0) + " %");
// the counters since start as cards; then since start, last minute, last hour (edge.run.people's stats)
function peopleTable(p) {
  const c = $("counts");
  c.innerHTML = "";
  for (const [k, name, fmt] of [["people", "people", String], ["with_mask", "with mask", String],
                                ["without_mask", "without", String], ["compliance", "compliance", pct]]) {
    const d = c.appendChild(document.createElement("div"));
    d.className = "card";
    d.appendChild(document.createElement("b")).textContent = k in p ? fmt(p[k]) : "–";
    d.appendChild(document.createTextNode(name));
  }
  const t = $("people");
  t.innerHTML = "<tr><th></th><th>total</th><th>minute</th><th>hour</th></tr>";
  for (const [k, fmt] of [["people", String], ["with_mask", String], ["without_mask", String], ["compliance", pct]]) {
    const r = t.insertRow();
    r.insertCell().outerHTML = "<th></th>";
    r.cells[0].textContent = k;
    for (const w of [p, p.per_minute || {}, p.per_hour || {}]) r.insertCell().textContent = k in w ? fmt(w[k]) : "–";
  }
}
// the last events, newest first, each with its snapshot (the best face); a no_mask alert in red.
// Redrawn only when the list changes, so the thumbnails are not fetched again on every poll.
let shownEvents = "";
function eventsList(events) {
  const key = (events || []).map(e => e.id).join(",");
  if (key === shownEvents) return;
  shownEvents = key;
  const box = $("events");
  box.innerHTML = "";
  for (const e of events || []) {
    const d = box.appendChild(document.createElement("div"));
    d.className = "ev" + (e.type === "no_mask" ? " alert" : "");
    if (e.image) {
      const img = d.appendChild(document.createElement("img"));
      img.alt = "snapshot of track " + e.track_id;
      img.src = e.image + q;
    }
    const when = e.last_seen || e.first_seen;
    const text = d.appendChild(document.createElement("div"));
    text.appendChild(document.createElement("b")).textContent =
      (e.type === "person" ? e.phase : e.type) + " · " + e.label;
    text.appendChild(document.createElement("br"));
    text.appendChild(document.createTextNode("track " + e.track_id + " · " +
      (typeof e.confidence === "number" ? e.confidence.toFixed(2) : "–") + " · " +
      (when ? new Date(when * 1000).toLocaleTimeString() : "–")));
  }
}
// a chart: the values (nulls leave no point) as a polyline, scaled to [0, top]
function chart(id, values, top) {
  const line = $(id).querySelector("polyline");
  const n = values.length, pts = [];
  values.forEach((v, i) => {
    if (typeof v !== "number") return;
    const x = n > 1 ? 300 * i / (n - 1) : 300;
    pts.push(x.toFixed(1) + "," + (78 - 76 * Math.min(v / top, 1)).toFixed(1));
  });
  line.setAttribute("points", pts.join(" "));
  return pts.length;
}
async function history() {
  try {
    const h = await (await fetch("history.json" + q, {cache: "no-store"})).json();
    const fpsTop = Math.max(1, ...h.fps.filter(v => typeof v === "number"));
    document.body.dataset.chartCompliance = chart("chart-compliance", h.compliance, 1);
    document.body.dataset.chartFps = chart("chart-fps", h.fps, fpsTop * 1.1);
    const span = h.t.length ? h.t[h.t.length - 1] - h.t[0] : 0;
    $("chart-note").textContent = "last " + (span < 120 ? Math.round(span) + " s" : Math.round(span / 60) + " min") +
      " · compliance 0–100 % · fps 0–" + fpsTop.toFixed(1);
  } catch (e) {
    $("error").textContent = "no history: " + e;
  }
}
const num = v => (typeof v === "number" ? v.toFixed(2) : (typeof v === "object" ? JSON.stringify(v) : String(v)));
// data-* attributes on <body> let a monitor (or a test) see that numbers and pictures change.
const canvas = document.createElement("canvas");
let lastPixel = null;
function sampleStream() {
  const img = $("stream");
  const b = document.body.dataset;
  b.streamWidth = img.naturalWidth;
  b.scrollWidth = document.documentElement.scrollWidth;
  b.viewportWidth = window.innerWidth;
  b.snapshotsLoaded = [...document.querySelectorAll("#events img")].filter(i => i.naturalWidth > 0).length;
  if (!img.naturalWidth) return;
  canvas.width = 1; canvas.height = 1;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0, 1, 1);
  const pixel = ctx.getImageData(0, 0, 1, 1).data.join(",");
  if (pixel !== lastPixel) {
    b.streamChanges = Number(b.streamChanges || 0) + 1;
    lastPixel = pixel;
  }
}
let polls = 0;
async function poll() {
  try {
    const s = await (await fetch("status.json" + q, {cache: "no-store"})).json();
    $("fps").textContent = s.fps.toFixed(1);
    $("frames").textContent = s.frames;
    $("uptime").textContent = s.uptime_s;
    $("info").textContent = Object.values(s.info || {}).join(" · ");
    rows("latency", s.latency_ms, v => (v.p50 === undefined ? "–" : v.p50.toFixed(2) + " (p90 " + v.p90.toFixed(2) + ")"));
    peopleTable(s.people || {});
    eventsList(s.events);
    rows("faces", s.faces, String);
    rows("classes", s.classes, String);
    const st = s.stream || {};
    rows("counters", Object.assign({}, s.counters, {stream_viewers: st.viewers, stream_frames_sent: st.frames_sent,
                                                    stream_frames_dropped: st.frames_dropped}), String);
    rows("telemetry", s.telemetry, num);
    $("telemetry-box").hidden = !Object.keys(s.telemetry || {}).length;  // no jtop: none
    if (polls++ % 4 === 0) await history();
    $("error").textContent = "";
    document.body.dataset.updates = Number(document.body.dataset.updates) + 1;
    document.body.dataset.lastFrame = s.frames;
    sampleStream();
  } catch (e) {
    $("error").textContent = "no status: " + e;
  }
  setTimeout(poll, 500);
}
poll();
</script>
</body></html>
"""
