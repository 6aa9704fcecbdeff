// The digits page: a view of one ffnn DigitsSession on the server (ffnn.playground.digits).
// Every number shown is computed by ffnn in Python and streamed as Server-Sent Events.
"use strict";

const $ = (id) => document.getElementById(id);
const S = { sid: null, status: "paused", history: [], source: null, classes: [], options: null, network: null };
const LIVE = ["optimizer", "lr", "momentum", "batch_size", "l2_decay", "augment", "test_crops"];

function showError(message) {
  $("error-text").textContent = message;
  $("error").classList.remove("hidden");
}
$("error-close").addEventListener("click", () => $("error").classList.add("hidden"));

async function call(method, path, body, raw) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.body = raw ? body : JSON.stringify(body);
    init.headers["Content-Type"] = raw ? "application/octet-stream" : "application/json";
  }
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

function bytes(b64) {
  const s = atob(b64);
  const a = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) a[i] = s.charCodeAt(i);
  return a;
}
const int8 = (b64) => new Int8Array(bytes(b64).buffer);
const fmt = (v, d = 3) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));
const pct = (v) => (v === null || v === undefined ? "–" : (100 * v).toFixed(1) + "%");

// ------------------------------------------------------------------ settings
function fillOptions(opts) {
  S.options = opts;
  $("dataset").innerHTML = opts.datasets.map((d) => `<option value="${d}">${d}</option>`).join("");
  $("optimizer").innerHTML = opts.optimizers
    .map((o) => `<option value="${o}">${opts.labels[o] || o}</option>`).join("");
}

function showConfig(state) {
  const c = state.config;
  $("dataset").value = c.dataset;
  for (const key of ["optimizer", "momentum", "batch_size", "l2_decay"]) $(key).value = c[key];
  $("lr").value = c.lr === null ? "" : c.lr;
  $("lr").placeholder = `default ${S.options.default_lr[c.optimizer]}`;
  $("augment").checked = c.augment;
  $("test_crops").checked = c.test_crops;
  const crop = state.input_side === 24;
  $("augment").disabled = $("test_crops").disabled = !crop;
  for (const key of ["optimizer", "lr", "momentum", "batch_size", "l2_decay"]) $(key).disabled = false;
  $("momentum").disabled = !["momentum", "nesterov"].includes(c.optimizer);
  // the text box follows the session's definition when that changes, and keeps the user's edits otherwise
  if (c.network !== S.network) $("network").value = c.network;
  S.network = c.network;
  $("network-notes").textContent = (state.notes || []).join("; ");
  $("command").textContent = state.command;
  $("s-params").textContent = state.num_parameters.toLocaleString("en-US");
  $("export").href = `/api/sessions/${S.sid}/export`;
  S.classes = state.class_names;
}

function applyState(state) {
  S.history = state.history.slice();
  showConfig(state);
  onFrame(state.frame);
}

async function update(change) {
  try {
    applyState(await call("POST", `/api/sessions/${S.sid}/config`, change));
    $("error").classList.add("hidden");
  } catch (e) {
    showError(e.message);
    applyState(await call("GET", `/api/sessions/${S.sid}`));
  }
}

for (const key of LIVE) {
  $(key).addEventListener("change", () => {
    const el = $(key);
    let value;
    if (el.type === "checkbox") value = el.checked;
    else if (key === "optimizer") value = el.value;
    else if (key === "lr" && el.value.trim() === "") value = null;
    else value = Number(el.value);
    const change = { [key]: value };
    if (key === "optimizer") change.lr = null;       // each method's own default learning rate
    update(change);
  });
}
$("dataset").addEventListener("change", () => update({ dataset: $("dataset").value }));
$("change-network").addEventListener("click", () => update({ network: $("network").value }));

// ------------------------------------------------------------------ run controls
async function action(name) {
  try {
    applyState(await call("POST", `/api/sessions/${S.sid}/${name}`));
  } catch (e) {
    showError(e.message);
  }
}
$("play").addEventListener("click", () => action(S.status === "running" ? "pause" : "play"));
$("step").addEventListener("click", () => action("step"));
$("reset").addEventListener("click", () => action("reset"));

$("load").addEventListener("change", async () => {
  const file = $("load").files[0];
  if (!file) return;
  try {
    applyState(await call("POST", `/api/digits/sessions/${S.sid}/load`, await file.arrayBuffer(), true));
  } catch (e) {
    showError(e.message);
  }
  $("load").value = "";
});

// ------------------------------------------------------------------ frames
function onFrame(frame) {
  if (!frame || !frame.stats) return;
  S.status = frame.status;
  $("status").textContent = frame.status + (frame.error ? `: ${frame.error}` : "");
  $("play").textContent = frame.status === "running" ? "Pause" : "Train";
  const s = frame.stats;
  $("s-forward").textContent = `${(1000 * s.forward_ms).toFixed(1)} µs`;
  $("s-backward").textContent = `${(1000 * s.backward_ms).toFixed(1)} µs`;
  $("s-loss").textContent = fmt(s.loss, 4);
  $("s-l2").textContent = fmt(s.l2_loss, 4);
  $("s-train").textContent = pct(s.train_acc);
  $("s-val").textContent = pct(s.val_acc);
  $("s-seen").textContent = `${s.examples_seen.toLocaleString("en-US")} (epoch ${s.epoch})`;
  const last = S.history[S.history.length - 1];
  if (!last || last[0] !== frame.point[0]) S.history.push(frame.point);
  drawCurves();
  if (frame.views && frame.views.layers) drawViews(frame.views);
}

function curve(canvas, series, colors, lo, hi) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  const pts = S.history;
  if (pts.length < 2) return;
  const x0 = pts[0][0], x1 = pts[pts.length - 1][0] || 1;
  let top = hi, bottom = lo;
  if (top === null) {
    top = 0;
    for (const p of pts) for (const k of series) if (p[k] !== null) top = Math.max(top, p[k]);
    top = top || 1;
  }
  series.forEach((k, j) => {
    ctx.strokeStyle = colors[j];
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    let started = false;
    for (const p of pts) {
      if (p[k] === null) continue;
      const x = ((p[0] - x0) / Math.max(1, x1 - x0)) * (w - 4) + 2;
      const y = h - 2 - ((p[k] - bottom) / (top - bottom)) * (h - 14);
      if (started) ctx.lineTo(x, y); else ctx.moveTo(x, y);
      started = true;
    }
    ctx.stroke();
  });
  ctx.fillStyle = "#555";
  ctx.font = "10px sans-serif";
  ctx.fillText(canvas.title + ` (max ${top.toFixed(2)}; x: examples seen)`, 4, 10);
}

function drawCurves() {
  curve($("curve-loss"), [1], ["#c0392b"], 0, null);
  curve($("curve-acc"), [3, 2], ["#183d4e", "#aaa"], 0, 1);
}

function greyImage(canvas, side, values, signed, scale) {
  canvas.width = canvas.height = side;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(side, side);
  for (let i = 0; i < side * side; i++) {
    const v = signed ? 127.5 + values[i] * scale : values[i];
    img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v;
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

function bars(canvas, values, labels) {
  const n = values.length;
  const bw = Math.max(2, Math.min(14, Math.floor(640 / n)));
  canvas.width = n * bw;
  canvas.height = labels ? 56 : 44;
  const ctx = canvas.getContext("2d");
  const mid = labels ? 22 : 22;
  ctx.fillStyle = "#eee";
  ctx.fillRect(0, mid, canvas.width, 1);
  for (let i = 0; i < n; i++) {
    const v = values[i] / 127;
    ctx.fillStyle = v >= 0 ? "#0877bd" : "#f59322";
    const hgt = Math.round(Math.abs(v) * 20);
    ctx.fillRect(i * bw, v >= 0 ? mid - hgt : mid + 1, bw - 1, hgt);
    if (labels) {
      ctx.fillStyle = "#333";
      ctx.font = "10px sans-serif";
      ctx.fillText(labels[i], i * bw + 2, 54);
    }
  }
}

function drawViews(v) {
  const box = $("layers");
  box.innerHTML = "";
  v.layers.forEach((layer, k) => {
    const row = document.createElement("div");
    row.className = "layer";
    const info = document.createElement("div");
    info.className = "info";
    const grad = layer.grad_min === null ? "" :
      `<br>gradient min ${fmt(layer.grad_min, 5)}, max ${fmt(layer.grad_max, 5)}`;
    const label = k === 0 ? ` (label ${S.classes[layer.label]})` : "";
    const params = layer.params ? `<br>parameters: ${layer.params.toLocaleString("en-US")}` : "";
    info.innerHTML = `<b>${layer.name}</b> (${layer.n})${label}<br>activation min ${fmt(layer.min)}, max ${fmt(layer.max)}${grad}${params}`;
    const canvas = document.createElement("canvas");
    const values = int8(layer.data);
    if (layer.side) {
      greyImage(canvas, layer.side, values, true, 127.5 / 127);
      canvas.style.width = canvas.style.height = `${layer.side * 3}px`;
    } else {
      bars(canvas, values, layer.name === "softmax" ? S.classes : null);
    }
    row.append(info, canvas);
    box.append(row);
  });
  const w = v.weights;
  $("weights-note").textContent = `(${w.n} of ${w.total} neurons, each ${w.side}x${w.side}; grey 0, white +, black -)`;
  const wbox = $("weights");
  wbox.innerHTML = "";
  const all = int8(w.data);
  const size = w.side * w.side;
  for (let j = 0; j < w.n; j++) {
    const c = document.createElement("canvas");
    greyImage(c, w.side, all.subarray(j * size, (j + 1) * size), true, 127.5 / 127);
    wbox.append(c);
  }
  const g = v.grid;
  const px = bytes(g.images);
  const gbox = $("grid");
  gbox.innerHTML = "";
  g.labels.forEach((label, i) => {
    const cell = document.createElement("div");
    cell.className = "cell";
    const c = document.createElement("canvas");
    greyImage(c, 28, px.subarray(i * 784, (i + 1) * 784), false, 1);
    const top = document.createElement("div");
    top.className = "top3";
    top.innerHTML = g.top3[i].map((cls, r) =>
      `<div class="${cls === label ? "right" : "wrong"}">${S.classes[cls]} ${(100 * g.probs[i][r]).toFixed(0)}%</div>`).join("");
    cell.title = `true class ${S.classes[label]}`;
    cell.append(c, top);
    gbox.append(cell);
  });
  const m = v.confusion;
  const peak = Math.max(1, ...m.map((row) => Math.max(...row)));
  let html = "<tr><th></th>" + S.classes.map((c) => `<th>${c}</th>`).join("") + "</tr>";
  m.forEach((row, i) => {
    html += `<tr><th>${S.classes[i]}</th>` + row.map((n, j) => {
      const a = n / peak;
      const color = i === j ? `rgba(42,138,62,${a})` : `rgba(192,57,43,${Math.min(1, 3 * a)})`;
      return `<td style="background:${color}">${n || ""}</td>`;
    }).join("") + "</tr>";
  });
  $("confusion").innerHTML = html;
}

// ------------------------------------------------------------------ drawing
const draw = $("draw");
const pen = draw.getContext("2d");
let drawing = false, last = null, pending = null;

function clearDrawing() {
  pen.fillStyle = "#fff";
  pen.fillRect(0, 0, draw.width, draw.height);
  $("prediction").textContent = "–";
  $("probs").innerHTML = "";
  $("seen").getContext("2d").clearRect(0, 0, 84, 84);
}
clearDrawing();
$("clear").addEventListener("click", clearDrawing);

function position(event) {
  const r = draw.getBoundingClientRect();
  return [(event.clientX - r.left) * (draw.width / r.width), (event.clientY - r.top) * (draw.height / r.height)];
}
function strokeTo(p) {
  pen.strokeStyle = "#000";
  pen.lineWidth = 16;
  pen.lineCap = pen.lineJoin = "round";
  pen.beginPath();
  pen.moveTo(...(last || p));
  pen.lineTo(...p);
  pen.stroke();
  last = p;
}
draw.addEventListener("mousedown", (e) => { drawing = true; last = null; strokeTo(position(e)); });
draw.addEventListener("mousemove", (e) => {
  if (!drawing) return;
  strokeTo(position(e));
  if (!pending) pending = setTimeout(() => { pending = null; classify(); }, 250);
});
window.addEventListener("mouseup", () => {
  if (!drawing) return;
  drawing = false;
  clearTimeout(pending);
  pending = null;
  classify();
});

// requests may come back out of order: only the latest one is shown (data-shown = data-asked)
let asked = 0;
async function classify() {
  if (!S.sid) return;
  const mine = ++asked;
  document.body.dataset.asked = mine;
  const side = 112;                       // the drawing, halved: the server centres and scales it
  const small = document.createElement("canvas");
  small.width = small.height = side;
  const ctx = small.getContext("2d");
  ctx.drawImage(draw, 0, 0, side, side);
  const data = ctx.getImageData(0, 0, side, side).data;
  const image = [];
  for (let r = 0; r < side; r++) {
    const row = new Array(side);
    for (let c = 0; c < side; c++) row[c] = data[4 * (r * side + c)];
    image.push(row);
  }
  try {
    const out = await call("POST", `/api/digits/sessions/${S.sid}/classify`, { image });
    if (mine !== asked) return;
    $("prediction").textContent = out.class_names[out.prediction];
    const seen = $("seen");
    const tmp = document.createElement("canvas");
    greyImage(tmp, 28, bytes(out.image), false, 1);
    const sctx = seen.getContext("2d");
    sctx.imageSmoothingEnabled = false;
    sctx.drawImage(tmp, 0, 0, 84, 84);
    $("probs").innerHTML = out.probabilities.map((p, k) =>
      `<span>${out.class_names[k]}</span><span><div class="bar" style="width:${Math.round(120 * p)}px"></div></span><span>${(100 * p).toFixed(1)}%</span>`).join("");
    document.body.dataset.shown = mine;
  } catch (e) {
    showError(e.message);
  }
}

// ------------------------------------------------------------------ start
function listen() {
  if (S.source) S.source.close();
  S.source = new EventSource(`/api/sessions/${S.sid}/stream`);
  S.source.addEventListener("frame", (e) => onFrame(JSON.parse(e.data)));
  S.source.addEventListener("closed", () => { S.source.close(); showError("this session was closed; reload the page"); });
}

async function start() {
  try {
    fillOptions(await call("GET", "/api/digits/options"));
    const state = await call("POST", "/api/digits/sessions", {});
    S.sid = state.id;
    applyState(state);
    listen();
    document.body.dataset.ready = "1";
  } catch (e) {
    showError(e.message);
  }
}
window.addEventListener("pagehide", () => { if (S.sid) navigator.sendBeacon(`/api/sessions/${S.sid}/close`); });
start();
