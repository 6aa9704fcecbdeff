// ffnn playground page: a view of a server-side ffnn training session.
// No computation of the network happens here; frames come from the server as
// Server-Sent Events (GET /api/sessions/{id}/stream) and are only drawn.
"use strict";

const $ = (id) => document.getElementById(id);
const LR_CHOICES = [0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
const RATE_CHOICES = [0, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
const DROPOUT_CHOICES = [0, 0.1, 0.2, 0.3, 0.4, 0.5];
const MOMENTUM_CHOICES = [0.5, 0.8, 0.9, 0.95, 0.99];
const DATASET_LABELS = {circle: "circle", xor: "xor", gauss: "gauss", spiral: "spiral",
  "reg-plane": "plane", "reg-gauss": "bumps"};
const ICON_PLAY = '<svg viewBox="0 0 24 24"><path d="M8 5v14l11-7z"/></svg>';
const ICON_PAUSE = '<svg viewBox="0 0 24 24"><path d="M6 5h4v14H6zm8 0h4v14h-4z"/></svg>';
const CONFIG_KEYS = ["dataset", "n", "noise", "test_fraction", "seed", "features", "hidden",
  "activation", "loss", "dropout", "optimizer", "lr", "momentum", "batch_size",
  "regularization", "reg_rate"];

const app = {
  options: null, id: null, state: null, cfg: null,
  view: {show_test: false, discretize: false},
  history: [], frame: null, es: null, busy: false,
  nodeData: new Map(),   // node key -> {res, bytes} for the hover card
  hover: null,           // node key shown in the hover card
  positions: null,       // node centres for the links
};

// ---------------------------------------------------------------- colours
function mix(a, b, t) { return a.map((v, i) => Math.round(v + (b[i] - v) * t)); }
const ORANGE = [245, 147, 34], MID = [232, 234, 235], BLUE = [8, 119, 189];
const LUT = [];       // value byte 0..255 -> rgb (full strength, for neurons and points)
const LUT_BG = [];    // lighter, for the output background
for (let q = 0; q < 256; q++) {
  const v = q / 127.5 - 1;
  const c = v < 0 ? mix(MID, ORANGE, -v) : mix(MID, BLUE, v);
  LUT.push(c);
  LUT_BG.push(mix(c, [255, 255, 255], 0.25));
}
function colorOf(v) {   // v in [-1, 1]
  const q = Math.max(0, Math.min(255, Math.round((v + 1) * 127.5)));
  const c = LUT[q];
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}
function decode(b64) {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
function paint(canvas, res, bytes, lut, discretize) {
  if (canvas.width !== res) { canvas.width = res; canvas.height = res; }
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(res, res);
  for (let i = 0; i < res * res; i++) {
    let q = bytes[i];
    if (discretize) q = q >= 128 ? 230 : 25;
    const c = lut[q];
    img.data[4 * i] = c[0]; img.data[4 * i + 1] = c[1]; img.data[4 * i + 2] = c[2]; img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

// ---------------------------------------------------------------- HTTP
async function api(method, path, body, contentType) {
  const init = {method, headers: {}};
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    init.headers["Content-Type"] = contentType || "application/json";
  }
  const resp = await fetch(path, init);
  let data = null;
  try { data = await resp.json(); } catch (e) { data = null; }
  if (!resp.ok) {
    const err = new Error((data && data.error) || `${method} ${path} failed with HTTP ${resp.status}`);
    err.status = resp.status;
    throw err;
  }
  return data;
}
function showError(msg) { $("error-text").textContent = msg; $("error").classList.remove("hidden"); }
function clearError() { $("error").classList.add("hidden"); }

// ---------------------------------------------------------------- URL hash
function readHash() {
  const params = new URLSearchParams(location.hash.replace(/^#/, ""));
  const cfg = {};
  for (const key of CONFIG_KEYS) if (params.has(key)) cfg[key] = params.get(key);
  const view = {};
  for (const key of ["show_test", "discretize"]) if (params.has(key)) view[key] = params.get(key) === "1";
  return {cfg, view};
}
function writeHash() {
  if (!app.cfg) return;
  const params = new URLSearchParams();
  for (const key of CONFIG_KEYS) {
    const v = app.cfg[key];
    params.set(key, Array.isArray(v) ? v.join(",") : String(v));
  }
  params.set("show_test", app.view.show_test ? "1" : "0");
  params.set("discretize", app.view.discretize ? "1" : "0");
  const hash = "#" + params.toString();
  if (location.hash !== hash) history.replaceState(null, "", hash);
}

// ---------------------------------------------------------------- session
async function createSession(cfg) {
  let state;
  try {
    state = await api("POST", "/api/sessions", cfg);
  } catch (err) {
    if (err.status !== 400) throw err;
    showError(`The link's settings were not accepted (${err.message}); using the defaults.`);
    state = await api("POST", "/api/sessions", {});
  }
  app.id = state.id;
  applyState(state, true);
  openStream();
}

function openStream() {
  if (app.es) app.es.close();
  const es = new EventSource(`/api/sessions/${app.id}/stream`);
  app.es = es;
  es.addEventListener("frame", (e) => onFrame(JSON.parse(e.data)));
  es.addEventListener("closed", () => { es.close(); recover(); });
  es.onerror = () => {
    if (es.readyState === EventSource.CLOSED) setTimeout(recover, 1000);
  };
}

async function recover() {
  // The session expired or the server restarted: start a new one with the same settings.
  if (app.recovering) return;
  app.recovering = true;
  try {
    const cfg = Object.assign({}, app.cfg);
    if (cfg.dataset === "upload") cfg.dataset = "circle";
    await createSession(cfg);
  } catch (e) {
    showError(`Lost the connection to the playground server (${e.message}).`);
  } finally {
    app.recovering = false;
  }
}

async function call(method, suffix, body, contentType) {
  try {
    return await api(method, `/api/sessions/${app.id}${suffix}`, body, contentType);
  } catch (err) {
    if (err.status === 404) { await recover(); }
    throw err;
  }
}

async function send(update) {
  try {
    const state = await call("POST", "/config", update);
    clearError();
    applyState(state);
  } catch (err) {
    showError(err.message);
    renderControls();   // back to the accepted settings
  }
}

async function action(name) {
  try {
    const state = await call("POST", "/" + name);
    if (name !== "play" || state.status !== "diverged") clearError();
    applyState(state);
  } catch (err) { showError(err.message); }
}

// ---------------------------------------------------------------- state
function applyState(state, first) {
  const structure = !app.state || first ||
    JSON.stringify([state.config.features, state.config.hidden, state.task]) !==
    JSON.stringify([app.cfg.features, app.cfg.hidden, app.state.task]);
  app.state = state;
  app.cfg = state.config;
  app.history = state.history.slice();
  writeHash();
  renderControls();
  renderDatasets();
  if (structure) buildNetwork();
  renderFeatureMaps();
  app.command = state.command;
  showCommand(state.epoch);
  $("export").href = `/api/sessions/${app.id}/export`;
  if (state.upload) $("upload-info").textContent =
    `${state.upload.name}: ${state.upload.n} points, ${state.upload.task}`;
  if (state.frame) onFrame(state.frame, true);
}

function setOptions(select, values, fmt) {
  select.innerHTML = "";
  for (const v of values) {
    const o = document.createElement("option");
    o.value = String(v); o.textContent = fmt ? fmt(v) : String(v);
    select.appendChild(o);
  }
}
function selectValue(select, value, fmt) {
  const v = String(value);
  if (![...select.options].some((o) => o.value === v)) {
    const o = document.createElement("option");
    o.value = v; o.textContent = fmt ? fmt(value) : v;
    select.appendChild(o);
  }
  select.value = v;
}

function renderControls() {
  const c = app.cfg;
  if (!c) return;
  selectValue($("lr"), c.lr);
  $("optimizer").value = c.optimizer;
  selectValue($("momentum"), c.momentum);
  $("momentum").disabled = !app.options.momentum_optimizers.includes(c.optimizer);
  $("activation").value = c.activation;
  $("loss").value = c.loss;
  const regression = app.state && app.state.task === "regression";
  for (const o of $("loss").options) o.disabled = regression && !app.options.regression_losses.includes(o.value);
  $("regularization").value = c.regularization;
  selectValue($("reg_rate"), c.reg_rate);
  $("reg_rate").disabled = c.regularization === "none";
  selectValue($("dropout"), c.dropout);
  $("train_pct").value = Math.round((1 - c.test_fraction) * 100);
  $("train_pct-val").textContent = `${Math.round((1 - c.test_fraction) * 100)}%`;
  $("noise").value = Math.round(c.noise * 100);
  $("noise-val").textContent = `${Math.round(c.noise * 100)}`;
  $("n").value = c.n; $("n-val").textContent = c.n;
  $("n").disabled = c.dataset === "upload";
  $("noise").disabled = c.dataset === "upload";
  if (c.batch_size > +$("batch_size").max) $("batch_size").max = c.batch_size;
  $("batch_size").value = c.batch_size; $("batch_size-val").textContent = c.batch_size;
  $("seed").value = c.seed;
  $("show_test").checked = app.view.show_test;
  $("discretize").checked = app.view.discretize;
  const n = c.hidden.length;
  $("layers-label").textContent = `${n} hidden layer${n === 1 ? "" : "s"}`;
  $("add-layer").disabled = n >= app.options.limits.max_layers;
  $("remove-layer").disabled = n === 0;
  document.querySelectorAll(".node.feature").forEach((el) => {
    el.classList.toggle("off", !c.features.includes(el.dataset.feature));
  });
}

// ---------------------------------------------------------------- data column
function renderDatasets() {
  const box = $("datasets");
  if (!box.childElementCount) {
    for (const name of [...app.options.classification, ...app.options.regression]) {
      const b = document.createElement("button");
      b.className = "dataset"; b.dataset.dataset = name; b.title = name;
      const cv = document.createElement("canvas"); cv.width = 52; cv.height = 52;
      b.appendChild(cv);
      const tag = document.createElement("span"); tag.className = "tag"; tag.textContent = DATASET_LABELS[name] || name;
      b.appendChild(tag);
      b.addEventListener("click", () => chooseDataset(name));
      box.appendChild(b);
      const th = app.options.thumbnails[name];
      const ctx = cv.getContext("2d");
      ctx.fillStyle = "#fafafa"; ctx.fillRect(0, 0, 52, 52);
      th.x.forEach((p, i) => {
        ctx.fillStyle = colorOf(th.v[i]);
        ctx.fillRect((p[0] + 6) / 12 * 52 - 1, (6 - p[1]) / 12 * 52 - 1, 2.5, 2.5);
      });
    }
  }
  box.querySelectorAll(".dataset").forEach((b) => b.classList.toggle("active", b.dataset.dataset === app.cfg.dataset));
  document.querySelector(".upload-btn").classList.toggle("active", app.cfg.dataset === "upload");
  drawPoints();
}

function chooseDataset(name) {
  const update = {dataset: name};
  if (app.options.regression.includes(name)) update.loss = "mse";
  send(update);
}

function drawPoints() {
  const cv = $("points");
  const ctx = cv.getContext("2d");
  ctx.clearRect(0, 0, cv.width, cv.height);
  const s = app.state;
  if (!s) return;
  const [x0, x1, y0, y1] = s.domain;
  const W = cv.width, H = cv.height;
  const draw = (set, test) => {
    set.x.forEach((p, i) => {
      const px = (p[0] - x0) / (x1 - x0) * W, py = (y1 - p[1]) / (y1 - y0) * H;
      ctx.beginPath(); ctx.arc(px, py, 3.6, 0, 2 * Math.PI);
      ctx.fillStyle = colorOf(set.y[i]); ctx.fill();
      ctx.lineWidth = test ? 1.4 : 1; ctx.strokeStyle = test ? "#000" : "#fff"; ctx.stroke();
    });
  };
  draw(s.train, false);
  if (app.view.show_test) draw(s.test, true);
  // axes ticks
  ctx.fillStyle = "rgba(0,0,0,.45)"; ctx.font = "10px sans-serif";
  ctx.fillText(x0.toFixed(1), 3, H - 4);
  ctx.fillText(x1.toFixed(1), W - 24, H - 4);
  ctx.fillText(y1.toFixed(1), 3, 11);
}

// ---------------------------------------------------------------- network column
function nodeSize(count) { return count <= 8 ? 36 : Math.max(10, Math.floor(300 / count) - 4); }

function makeNode(key, size, caption) {
  const el = document.createElement("div");
  el.className = "node"; el.dataset.key = key;
  el.style.width = el.style.height = size + "px";
  const cv = document.createElement("canvas"); cv.width = 1; cv.height = 1;
  el.appendChild(cv);
  el.addEventListener("mouseenter", () => { app.hover = key; showHover(el, caption); });
  el.addEventListener("mouseleave", () => { app.hover = null; $("hover-card").classList.add("hidden"); });
  return el;
}

function buildNetwork() {
  const cols = $("columns");
  cols.innerHTML = "";
  app.nodeData.clear();
  const c = app.cfg;
  // features
  const fcol = document.createElement("div"); fcol.className = "column features-col";
  const fhead = document.createElement("div"); fhead.className = "head"; fhead.textContent = "inputs";
  fcol.appendChild(fhead);
  const fnodes = document.createElement("div"); fnodes.className = "nodes";
  for (const f of app.options.features) {
    const el = makeNode("f:" + f, 36, f);
    el.classList.add("feature"); el.dataset.feature = f;
    el.classList.toggle("off", !c.features.includes(f));
    const name = document.createElement("span"); name.className = "name"; name.textContent = f;
    el.appendChild(name);
    el.title = "click to use / not use this feature";
    el.addEventListener("click", () => toggleFeature(f));
    fnodes.appendChild(el);
  }
  fcol.appendChild(fnodes); cols.appendChild(fcol);
  // hidden layers
  c.hidden.forEach((width, li) => {
    const col = document.createElement("div"); col.className = "column";
    const head = document.createElement("div"); head.className = "head";
    const pm = document.createElement("div"); pm.className = "pm";
    const plus = document.createElement("button"); plus.className = "round tiny"; plus.textContent = "+";
    plus.title = "add a neuron"; plus.disabled = width >= app.options.limits.max_neurons;
    plus.addEventListener("click", () => changeWidth(li, +1));
    const minus = document.createElement("button"); minus.className = "round tiny"; minus.textContent = "\u2212";
    minus.title = "remove a neuron"; minus.disabled = width <= 1;
    minus.addEventListener("click", () => changeWidth(li, -1));
    pm.append(plus, minus);
    const label = document.createElement("div");
    label.innerHTML = `${width}<span class="unit"> neuron${width === 1 ? "" : "s"}</span>`;
    label.title = `${width} neuron${width === 1 ? "" : "s"}`;
    head.append(pm, label); col.appendChild(head);
    const nodes = document.createElement("div"); nodes.className = "nodes";
    const size = nodeSize(width);
    for (let j = 0; j < width; j++) nodes.appendChild(makeNode(`h:${li}:${j}`, size, `layer ${li + 1}, neuron ${j + 1}`));
    nodes.style.gap = (width <= 8 ? 8 : 2) + "px";
    col.appendChild(nodes); cols.appendChild(col);
  });
  // output
  const ocol = document.createElement("div"); ocol.className = "column";
  const ohead = document.createElement("div"); ohead.className = "head"; ohead.textContent = "output";
  ocol.appendChild(ohead);
  const onodes = document.createElement("div"); onodes.className = "nodes";
  onodes.appendChild(makeNode("out", 36, "output"));
  ocol.appendChild(onodes); cols.appendChild(ocol);
  fitColumns();
  requestAnimationFrame(layoutLinks);
}

// A deep or wide network is drawn compact (smaller gaps and labels) so that every column,
// the output included, fits the panel; only a very narrow window still scrolls.
function fitColumns() {
  const cols = $("columns"), net = $("network");
  cols.classList.remove("compact");
  if (cols.scrollWidth > net.clientWidth) cols.classList.add("compact");
}

function layoutLinks() {
  const net = $("network");
  const box = $("columns").getBoundingClientRect();
  const origin = net.getBoundingClientRect();
  const centre = (el) => {
    const r = el.getBoundingClientRect();
    return [r.left - origin.left + net.scrollLeft, r.top - origin.top + r.height / 2, r.width];
  };
  const layers = [];
  layers.push(app.cfg.features.map((f) => centre(document.querySelector(`.node[data-feature="${CSS.escape(f)}"]`))));
  app.cfg.hidden.forEach((w, li) => {
    const row = [];
    for (let j = 0; j < w; j++) row.push(centre(document.querySelector(`.node[data-key="h:${li}:${j}"]`)));
    layers.push(row);
  });
  layers.push([centre(document.querySelector('.node[data-key="out"]'))]);
  app.positions = layers;
  const cv = $("links");
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(box.width, net.scrollWidth), h = Math.max(box.height, net.clientHeight);
  cv.width = w * dpr; cv.height = h * dpr;
  cv.style.width = w + "px"; cv.style.height = h + "px";
  drawLinks();
}

function drawLinks() {
  const cv = $("links");
  const ctx = cv.getContext("2d");
  const dpr = window.devicePixelRatio || 1;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, cv.width, cv.height);
  const f = app.frame, pos = app.positions;
  if (!f || !pos || f.weights.length !== pos.length - 1) return;
  const classification = app.state.task === "classification";
  for (let k = 0; k < f.weights.length; k++) {
    const w = f.weights[k], q = new Int8Array(decode(w.data).buffer);
    const src = pos[k], dst = pos[k + 1];
    const last = k === f.weights.length - 1;
    if (src.length !== w.in) return;
    const many = src.length * dst.length > 1024;
    for (let j = 0; j < w.in; j++) {
      for (let i = 0; i < dst.length; i++) {
        // into the output node: the weight's effect on the shown value
        // (class-1 minus class-0 logit for classification)
        let v = last && classification ? (q[w.in + j] - q[j]) / 2 : q[i * w.in + j];
        if (!last && i >= w.out) continue;
        const a = Math.min(1, Math.abs(v) / 127);
        if (a < 0.02) continue;
        const [x0, y0, s0] = src[j], [x1, y1] = dst[i];
        const sx = x0 + s0, mx = (sx + x1) / 2;
        ctx.beginPath(); ctx.moveTo(sx, y0);
        ctx.bezierCurveTo(mx, y0, mx, y1, x1, y1);
        ctx.strokeStyle = v >= 0 ? `rgba(8,119,189,${0.25 + 0.6 * a})` : `rgba(245,147,34,${0.25 + 0.6 * a})`;
        ctx.lineWidth = (many ? 0.3 : 0.6) + (many ? 1.5 : 4) * a;
        ctx.stroke();
      }
    }
  }
}

function renderFeatureMaps() {
  const fm = app.state.features;
  for (const f of app.options.features) {
    const el = document.querySelector(`.node[data-feature="${CSS.escape(f)}"]`);
    if (!el) continue;
    const cv = el.querySelector("canvas");
    if (fm.maps[f]) {
      const bytes = decode(fm.maps[f]);
      app.nodeData.set("f:" + f, {res: fm.res, bytes});
      paint(cv, fm.res, bytes, LUT, false);
    } else {
      app.nodeData.delete("f:" + f);
      const ctx = cv.getContext("2d"); cv.width = 1; cv.height = 1; ctx.fillStyle = "#eee"; ctx.fillRect(0, 0, 1, 1);
    }
  }
}

function toggleFeature(f) {
  const on = new Set(app.cfg.features);
  if (on.has(f)) on.delete(f); else on.add(f);
  send({features: app.options.features.filter((x) => on.has(x))});
}
function changeWidth(li, delta) {
  const hidden = app.cfg.hidden.slice();
  hidden[li] = Math.max(1, Math.min(app.options.limits.max_neurons, hidden[li] + delta));
  send({hidden});
}

function showHover(el, caption) {
  const card = $("hover-card");
  const r = el.getBoundingClientRect();
  const off = el.classList.contains("feature") && el.classList.contains("off");
  $("hover-caption").textContent = off ? `${caption}: not an input now (click to use it)` : caption;
  $("hover-canvas").classList.toggle("hidden", !app.nodeData.has(app.hover));
  card.classList.remove("hidden");
  let left = r.right + 12, top = r.top - 60;
  if (left + 215 > window.innerWidth) left = r.left - 225;
  card.style.left = left + "px"; card.style.top = Math.max(4, top) + "px";
  paintHover();
}
function paintHover() {
  if (!app.hover) return;
  const d = app.nodeData.get(app.hover);
  const cv = $("hover-canvas");
  if (d) paint(cv, d.res, d.bytes, LUT, app.view.discretize && app.hover === "out");
}

// ---------------------------------------------------------------- links: hover shows a weight, click edits it
// Every link between two columns is the curve drawn by drawLinks: from (sx, y0) to (x1, y1) with
// control points at the middle x, so y(t) = y0 + (y1 - y0)(3t^2 - 2t^3) and every link of a gap
// shares x(t). The link under the mouse is the one whose y at the mouse's x is nearest.
function linkAt(mx, my) {
  const pos = app.positions, f = app.frame;
  if (!pos || !f || f.weights.length !== pos.length - 1) return null;
  for (let k = 0; k < pos.length - 1; k++) {
    const src = pos[k], dst = pos[k + 1];
    if (!src.length || !dst.length) continue;
    const sx = src[0][0] + src[0][2], x1 = dst[0][0];
    if (mx <= sx || mx >= x1) continue;
    const m = (sx + x1) / 2;
    let lo = 0, hi = 1;
    for (let it = 0; it < 30; it++) {
      const t = (lo + hi) / 2;
      const x = sx * (1 - t) ** 3 + 3 * m * t * (1 - t) + x1 * t ** 3;
      if (x < mx) lo = t; else hi = t;
    }
    const t = (lo + hi) / 2, s = 3 * t * t - 2 * t * t * t;
    let best = null;
    for (let j = 0; j < src.length; j++) {
      for (let i = 0; i < dst.length; i++) {
        const d = Math.abs(src[j][1] + (dst[i][1] - src[j][1]) * s - my);
        if (d < 5 && (!best || d < best.d)) best = {k, j, i, d};
      }
    }
    return best;
  }
  return null;
}

function weightOf(k, to, from) {
  const w = app.frame.weights[k];
  const q = new Int8Array(decode(w.data).buffer);
  return q[to * w.in + from] / 127 * w.scale;
}

function describeLink(link) {
  const last = link.k === app.frame.weights.length - 1;
  const from = link.k === 0 ? app.cfg.features[link.j] : `layer ${link.k}, neuron ${link.j + 1}`;
  const twoLogits = last && app.frame.weights[link.k].out === 2;
  const to = last ? "output" : `layer ${link.k + 1}, neuron ${link.i + 1}`;
  const row = twoLogits ? 1 : link.i;
  let text = `${from} \u2192 ${to}: weight \u2248 ${weightOf(link.k, row, link.j).toPrecision(3)}`;
  if (twoLogits) text += ` (to class 1; to class 0: ${weightOf(link.k, 0, link.j).toPrecision(3)})`;
  return {text, row};
}

function linkCard() {
  let card = $("link-card");
  if (!card) {
    card = document.createElement("div");
    card.id = "link-card"; card.className = "link-card hidden";
    document.body.appendChild(card);
  }
  return card;
}

function wireLinks() {
  const net = $("network");
  const local = (e) => {
    const r = net.getBoundingClientRect();
    return [e.clientX - r.left + net.scrollLeft, e.clientY - r.top];
  };
  net.addEventListener("mousemove", (e) => {
    if (app.editing || e.target.closest(".node") || e.target.closest("button")) {
      if (!app.editing) linkCard().classList.add("hidden");
      net.classList.remove("on-link");
      return;
    }
    const link = linkAt(...local(e));
    app.link = link;
    net.classList.toggle("on-link", !!link);
    const card = linkCard();
    if (!link) { card.classList.add("hidden"); return; }
    card.textContent = describeLink(link).text + " \u2014 click to edit";
    card.style.left = (e.clientX + 14) + "px"; card.style.top = (e.clientY + 10) + "px";
    card.classList.remove("hidden");
  });
  net.addEventListener("mouseleave", () => { if (!app.editing) linkCard().classList.add("hidden"); });
  net.addEventListener("click", (e) => {
    if (!app.link || e.target.closest(".node") || e.target.closest("button")) return;
    const link = app.link, {text, row} = describeLink(link);
    const card = linkCard();
    card.textContent = text.replace(/: weight.*/, ": new weight");
    const input = document.createElement("input");
    input.type = "number"; input.step = "any"; input.id = "link-weight";
    input.value = weightOf(link.k, row, link.j).toPrecision(3);
    card.appendChild(input);
    app.editing = true;
    input.focus(); input.select();
    const done = () => { app.editing = false; card.classList.add("hidden"); };
    input.addEventListener("keydown", async (ev) => {
      if (ev.key === "Escape") done();
      if (ev.key !== "Enter") return;
      try {
        const state = await call("POST", "/weight", {layer: link.k, to: row, from: link.j, value: parseFloat(input.value)});
        clearError(); applyState(state);
      } catch (err) { showError(err.message); }
      done();
    });
    input.addEventListener("blur", done);
  });
}

// ---------------------------------------------------------------- frames
function fmt(x, digits) { return x === null || x === undefined ? "\u2013" : x.toFixed(digits); }

function onFrame(f, fromState) {
  if (!app.state) return;
  app.frame = f;
  // the curves
  const h = app.history;
  if (!fromState) {
    if (!h.length || f.epoch > h[h.length - 1][0]) h.push(f.point);
    else if (f.epoch === h[h.length - 1][0]) h[h.length - 1] = f.point;
    else app.history = [f.point];
  }
  $("epoch").textContent = String(f.epoch).padStart(6, "0").replace(/(\d{3})(\d{3})$/, "$1,$2");
  $("test-loss").textContent = fmt(f.test_loss, 3);
  $("train-loss").textContent = fmt(f.train_loss, 3);
  $("test-acc").textContent = f.test_acc === null ? "\u2013" : (100 * f.test_acc).toFixed(1) + "%";
  $("train-acc").textContent = f.train_acc === null ? "\u2013" : (100 * f.train_acc).toFixed(1) + "%";
  document.querySelectorAll(".acc").forEach((el) => el.classList.toggle("hidden", app.state.task !== "classification"));
  const playing = f.status === "running";
  $("play").classList.toggle("playing", playing);
  if (app.lastPlaying !== playing) $("play").innerHTML = playing ? ICON_PAUSE : ICON_PLAY;
  app.lastPlaying = playing;
  $("play").setAttribute("aria-label", playing ? "pause" : "play");
  $("play").disabled = f.status === "diverged";
  $("step").disabled = f.status === "diverged";
  const badge = $("status-badge");
  if (f.status === "diverged") {
    badge.textContent = "diverged"; badge.classList.remove("hidden");
    showError(f.error);
  } else badge.classList.add("hidden");
  showCommand(f.epoch);
  if (app.lastStatus === "running" && f.status !== "running") refreshCommand();
  app.lastStatus = f.status;
  // output heatmap
  const out = decode(f.output.data);
  app.nodeData.set("out", {res: f.output.res, bytes: out});
  paint($("heatmap"), f.output.res, out, LUT_BG, app.view.discretize);
  const onode = document.querySelector('.node[data-key="out"] canvas');
  if (onode) paint(onode, f.output.res, out, LUT, app.view.discretize);
  // neurons
  const layers = f.neurons.layers;
  if (layers.length === app.cfg.hidden.length && layers.every((l, i) => l.length === app.cfg.hidden[i])) {
    layers.forEach((row, li) => row.forEach((b64, j) => {
      const key = `h:${li}:${j}`;
      const bytes = decode(b64);
      app.nodeData.set(key, {res: f.neurons.res, bytes});
      const el = document.querySelector(`.node[data-key="${key}"] canvas`);
      if (el) paint(el, f.neurons.res, bytes, LUT, false);
    }));
    drawLinks();
  }
  paintHover();
  drawCurves();
}

async function refreshCommand() {
  try { app.command = (await call("GET", "/command")).command; } catch (e) { /* shown elsewhere */ }
  showCommand(app.frame ? app.frame.epoch : 0);
}
// the server's command for the epochs trained so far (it says --epochs max(epoch, 1))
function showCommand(epoch) {
  if (app.command) $("command").textContent = app.command.replace(/--epochs \d+/, `--epochs ${Math.max(epoch, 1)}`);
}

function drawCurve(canvas, series, fixedMax) {
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height;
  ctx.clearRect(0, 0, W, H);
  const h = app.history;
  if (h.length < 1) return;
  const e0 = h[0][0], e1 = Math.max(h[h.length - 1][0], e0 + 1);
  let max = fixedMax || 0;
  if (!fixedMax) for (const p of h) for (const [idx] of series) if (p[idx] !== null && p[idx] > max) max = p[idx];
  if (!(max > 0)) max = 1;
  for (const [idx, color, width] of series) {
    ctx.beginPath();
    let started = false;
    for (const p of h) {
      if (p[idx] === null) continue;
      const x = (p[0] - e0) / (e1 - e0) * (W - 2) + 1;
      const y = H - 2 - Math.min(1, p[idx] / max) * (H - 6);
      if (!started) { ctx.moveTo(x, y); started = true; } else ctx.lineTo(x, y);
    }
    ctx.strokeStyle = color; ctx.lineWidth = width; ctx.stroke();
  }
  const label = fixedMax ? "accuracy 0\u20131" : `loss 0\u2013${max.toPrecision(3)}`;
  ctx.font = "10px sans-serif";
  const tw = ctx.measureText(label).width;
  ctx.fillStyle = "rgba(255,255,255,.85)"; ctx.fillRect(W - tw - 6, 0, tw + 6, 12);
  ctx.fillStyle = "#888"; ctx.fillText(label, W - tw - 3, 10);
}
function drawCurves() {
  drawCurve($("curve-loss"), [[1, "#aaa", 1.5], [2, "#222", 1.5]]);
  if (app.state.task === "classification") drawCurve($("curve-acc"), [[3, "#aaa", 1.5], [4, "#222", 1.5]], 1);
}

// ---------------------------------------------------------------- wiring
function wire() {
  setOptions($("lr"), LR_CHOICES);
  setOptions($("reg_rate"), RATE_CHOICES);
  setOptions($("dropout"), DROPOUT_CHOICES);
  setOptions($("momentum"), MOMENTUM_CHOICES);
  setOptions($("activation"), app.options.activations);
  // the optimizer and loss choices come from ffnn's catalogue, through /api/options
  setOptions($("optimizer"), app.options.optimizers, (v) => app.options.labels.optimizers[v] || v);
  setOptions($("loss"), app.options.losses, (v) => app.options.labels.losses[v] || v);
  setOptions($("regularization"), app.options.regularizations, (v) => ({none: "None", l1: "L1", l2: "L2"})[v] || v);
  for (const key of ["optimizer", "loss", "activation"]) {
    for (const o of $(key).options) o.title = app.options.help[key === "loss" ? "losses" : key + "s"][o.value] || "";
  }
  $("play").addEventListener("click", () => action(app.frame && app.frame.status === "running" ? "pause" : "play"));
  $("step").addEventListener("click", () => action("step"));
  $("reset").addEventListener("click", () => action("reset"));
  for (const key of ["lr", "momentum", "reg_rate", "dropout"]) {
    $(key).addEventListener("change", (e) => send({[key]: parseFloat(e.target.value)}));
  }
  for (const key of ["optimizer", "activation", "loss", "regularization"]) {
    $(key).addEventListener("change", (e) => {
      const update = {[key]: e.target.value};
      if (key === "regularization" && e.target.value !== "none" && app.cfg.reg_rate === 0) update.reg_rate = 0.001;
      send(update);
    });
  }
  const slider = (id, toValue, key) => {
    $(id).addEventListener("input", (e) => { $(id + "-val").textContent = e.target.value + (id === "train_pct" ? "%" : ""); });
    $(id).addEventListener("change", (e) => send({[key]: toValue(+e.target.value)}));
  };
  slider("train_pct", (v) => Math.round(100 - v) / 100, "test_fraction");
  slider("noise", (v) => v / 100, "noise");
  slider("n", (v) => v, "n");
  slider("batch_size", (v) => v, "batch_size");
  $("seed").addEventListener("change", (e) => send({seed: parseInt(e.target.value, 10)}));
  $("regenerate").addEventListener("click", () => send({seed: Math.floor(Math.random() * 100000)}));
  $("add-layer").addEventListener("click", () => send({hidden: [...app.cfg.hidden, 2]}));
  $("remove-layer").addEventListener("click", () => send({hidden: app.cfg.hidden.slice(0, -1)}));
  for (const key of ["show_test", "discretize"]) {
    $(key).addEventListener("change", (e) => {
      app.view[key] = e.target.checked;
      writeHash(); drawPoints();
      if (app.frame) onFrame(app.frame, true);
    });
  }
  $("error-close").addEventListener("click", clearError);
  $("upload").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    e.target.value = "";
    if (!file) return;
    if (file.size > app.options.limits.upload_bytes) {
      showError(`${file.name} is ${file.size} bytes; at most ${app.options.limits.upload_bytes} bytes can be uploaded`);
      return;
    }
    try {
      const state = await call("POST", `/upload?filename=${encodeURIComponent(file.name)}`, await file.text(), "text/csv");
      clearError(); applyState(state);
    } catch (err) { showError(err.message); }
  });
  window.addEventListener("resize", () => { fitColumns(); requestAnimationFrame(layoutLinks); });
  wireLinks();
  window.addEventListener("hashchange", () => {
    const {cfg, view} = readHash();
    Object.assign(app.view, view);
    const update = {};
    for (const [k, v] of Object.entries(cfg)) {
      const cur = app.cfg[k];
      if (String(Array.isArray(cur) ? cur.join(",") : cur) !== v) update[k] = v;
    }
    if (Object.keys(update).length) send(update); else { renderControls(); drawPoints(); }
  });
  window.addEventListener("pagehide", () => {
    if (app.id) navigator.sendBeacon(`/api/sessions/${app.id}/close`);
  });
}

async function main() {
  try {
    app.options = await api("GET", "/api/options");
    wire();
    const {cfg, view} = readHash();
    Object.assign(app.view, view);
    if (cfg.dataset === "upload") {
      showError("This link used an uploaded CSV, which is not part of the link; showing the circle data instead. Upload the file again.");
      cfg.dataset = "circle";
    }
    await createSession(cfg);
    document.body.dataset.ready = "1";
  } catch (err) {
    showError(`Could not start the playground: ${err.message}`);
  }
}
main();
