// Laboratorio del playground: comparar dos modelos, ver la curva de pérdida en vivo y el mapa
// de atención. Usa requestBody() y streamEvents() de playground.js (se carga antes).
"use strict";

// userPicked: si la persona ya eligió los modelos de «Comparar», la lista nueva no se los cambia.
const lab = { models: [], curveTimer: null, attn: null, userPicked: false };
const CURVE_REFRESH_MS = 2000;

function authHeaders(json) {
  const headers = json ? { "Content-Type": "application/json" } : {};
  const key = $("api-key").value.trim();  // mismo campo que usa «Generar»
  if (key) headers.Authorization = `Bearer ${key}`;
  return headers;
}

function fillSelect(select, models, preferred, keepChoice = true) {
  const keep = keepChoice ? select.value : "";
  select.replaceChildren();
  for (const m of models) {
    const opt = document.createElement("option");
    opt.value = m.id;
    const kind = m.tokenizer === "bpe" ? `${m.type} BPE` : m.type;
    const loss = `${formatLoss(m.val_loss)} ${lossUnit(m.tokenizer)}`;
    opt.textContent = `${m.id} · ${kind} · paso ${m.step} · val ${loss}`;
    select.append(opt);
  }
  const ids = models.map((m) => m.id);
  if (ids.includes(keep)) select.value = keep;
  else if (preferred && ids.includes(preferred)) select.value = preferred;
}

async function loadModels() {
  const resp = await fetch("/v1/models", { headers: authHeaders(false) });
  if (!resp.ok) return;
  const models = (await resp.json()).data.map(({ loaded, ...m }) => m);
  if (JSON.stringify(models) === JSON.stringify(lab.models)) return;  // sin cambios
  lab.models = models;
  const def = lab.models.find((m) => m.default);
  const defId = def ? def.id : undefined;
  const [a, b] = comparePair(lab.models, def);
  fillSelect($("model-a"), lab.models, a, lab.userPicked);
  fillSelect($("model-b"), lab.models, b, lab.userPicked);
  fillSelect($("curve-model"), lab.models, defId);
  const gpts = lab.models.filter((m) => m.type === "gpt");
  fillSelect($("attn-model"), gpts, def && def.type === "gpt" ? defId : undefined);
}

// --- comparar ------------------------------------------------------------------------------

// La pareja que «Comparar» propone: el bigrama frente al GPT si hay de los dos (el primer consejo
// de la lección), cada uno el de por defecto si es de su tipo o si no el más reciente (la lista
// llega del más nuevo al más viejo); si no, otro modelo frente al de por defecto.
function comparePair(models, def) {
  const newest = (type) => (def && def.type === type ? def : models.find((m) => m.type === type));
  const bigram = newest("bigram"), gpt = newest("gpt");
  if (bigram && gpt) return [bigram.id, gpt.id];
  const other = models.find((m) => !m.default);
  const defId = def ? def.id : undefined;
  return [other ? other.id : defId, defId];
}

async function streamInto(model, body, out, status) {
  out.replaceChildren();
  const promptSpan = document.createElement("span");
  promptSpan.className = "prompt";
  promptSpan.textContent = body.prompt;
  out.append(promptSpan);
  const resp = await fetchRetrying("/generate", {
    method: "POST", headers: authHeaders(true), body: JSON.stringify({ ...body, model }),
  }, (msg) => { status.textContent = msg; });
  if (!resp.ok) {
    const err = await resp.json().catch(() => null);
    status.textContent = `Error ${resp.status}: ${err && err.error ? err.error.message : ""}`;
    status.dataset.state = "error";
    return;
  }
  for await (const evt of streamEvents(resp)) {
    if (evt.name === "done") {
      const d = evt.data;
      status.textContent = `${d.usage.generated_chars} caracteres (${d.usage.generated_tokens} `
        + `tokens) · semilla ${d.seed}`;
      status.dataset.state = "done";
    } else if (evt.name === "error") {
      status.textContent = `Error: ${evt.data.error.message}`;
      status.dataset.state = "error";
    } else {
      const span = document.createElement("span");
      span.className = "gen";
      span.textContent = evt.data.text;
      out.append(span);
    }
  }
}

async function compare() {
  const body = requestBody();
  delete body.top_probs;
  if (body.seed === undefined) {  // «aleatoria»: una sola semilla para los dos lados
    body.seed = Math.floor(Math.random() * 2 ** 31);
    $("seed").value = String(body.seed);
  }
  $("compare").disabled = true;
  const sides = ["a", "b"].map((s) => {
    const model = $(`model-${s}`).value;
    $(`compare-${s}-title`).textContent = model;
    const status = $(`compare-${s}-status`);
    status.textContent = "Generando…";
    status.dataset.state = "running";
    return streamInto(model, body, $(`compare-${s}`), status).catch((err) => {
      status.textContent = `Error de red: ${err.message}`;
      status.dataset.state = "error";
    });
  });
  await Promise.all(sides);  // los dos a la vez: se ve cuál escribe mejor mientras escriben
  $("compare").disabled = false;
}

// --- curva de pérdida ----------------------------------------------------------------------

const SVG_NS = "http://www.w3.org/2000/svg";

function svgEl(name, attrs, text) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

// El eje y nunca abarca menos de esto: un bigrama que oscila entre 2,30 y 2,32 se ve plano
// (es ruido), no como si aprendiera.
const CURVE_MIN_SPAN = 1.0;
const CURVE_SERIES = [
  { key: "train_loss", label: "entrenamiento", color: "#2f6fdb", dash: "5 3" },
  { key: "val_loss", label: "validación", color: "#e5822b", dash: "none" },
];

// Los límites del eje y (múltiplos de medio nat) y sus marcas.
function lossAxis(ys) {
  const hi = Math.max(...ys);
  const lo = Math.max(0, Math.min(Math.min(...ys), hi - CURVE_MIN_SPAN));
  const y0 = Math.floor(lo * 2) / 2, y1 = Math.ceil(hi * 2) / 2 || 0.5;
  const step = y1 - y0 > 3 ? 1 : 0.5;
  const ticks = [];
  for (let v = y0; v <= y1 + 1e-9; v += step) ticks.push(v);
  return { y0, y1, ticks };
}

// La leyenda va en su propia banda, encima del dibujo: ninguna línea la cruza.
function drawLegend(svg, x, y) {
  let cx = x;
  const box = svgEl("rect", { x: x - 8, y: y - 14, height: 22, rx: 3, class: "legend-box" });
  svg.append(box);
  for (const s of CURVE_SERIES) {
    svg.append(svgEl("line", { x1: cx, y1: y - 4, x2: cx + 28, y2: y - 4, stroke: s.color,
      "stroke-width": 3, "stroke-dasharray": s.dash, "data-legend": s.key }));
    const label = svgEl("text", { x: cx + 34, y }, s.label);
    svg.append(label);
    cx += 34 + label.getComputedTextLength() + 18;
  }
  box.setAttribute("width", String(cx - x - 10));
}

function drawCurve(points) {
  const svg = $("loss-curve");
  svg.replaceChildren();
  const W = 600, H = 260, L = 52, R = 16, T = 40, B = 40;
  const series = CURVE_SERIES.map((s) => ({ ...s, pts: points
    .filter((p) => typeof p[s.key] === "number").map((p) => [p.step, p[s.key]]) }));
  const all = series.flatMap((s) => s.pts);
  svg.dataset.points = String(all.length);
  if (!all.length) {
    svg.append(svgEl("text", { x: W / 2, y: H / 2, "text-anchor": "middle" },
      "todavía no hay evaluaciones"));
    return;
  }
  const xs = all.map((p) => p[0]);
  const x0 = Math.min(...xs), xMax = Math.max(...xs), x1 = Math.max(xMax, x0 + 1);
  const { y0, y1, ticks } = lossAxis(all.map((p) => p[1]));
  const sx = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  svg.append(svgEl("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" }));
  svg.append(svgEl("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" }));
  for (const v of ticks) {
    svg.append(svgEl("text", { x: L - 5, y: sy(v) + 5, "text-anchor": "end", class: "tick" },
      spanishNumber(v, 1)));
  }
  // El primer paso alineado a la izquierda y el último a la derecha: no se salen de la figura.
  const xTicks = xMax > x0 ? [[x0, "start"], [xMax, "end"]] : [[x0, "start"]];
  xTicks.forEach(([v, anchor]) => {
    svg.append(svgEl("text", { x: sx(v), y: H - B + 18, "text-anchor": anchor, class: "tick" },
      String(v)));  // los pasos, enteros como en las listas: «paso 2000»
  });
  svg.append(svgEl("text", { x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle" }, "paso"));
  svg.append(svgEl("text", { x: 14, y: (T + H - B) / 2,
    transform: `rotate(-90 14 ${(T + H - B) / 2})`, "text-anchor": "middle" }, "pérdida"));
  for (const s of series) {
    if (!s.pts.length) continue;
    const d = s.pts.map(([x, y], j) => `${j ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`);
    svg.append(svgEl("path", { d: d.join(" "), fill: "none", stroke: s.color,
      "stroke-width": 2, "stroke-dasharray": s.dash, "data-series": s.key }));
    // Un punto por evaluación: con una sola (un bigrama recién entrenado) no habría línea.
    for (const [x, y] of s.pts) {
      svg.append(svgEl("circle", { cx: sx(x).toFixed(1), cy: sy(y).toFixed(1), r: 3.5,
        fill: s.color }));
    }
  }
  drawLegend(svg, L + 8, 22);
}

async function refreshCurve() {
  const id = $("curve-model").value;
  if (!id) return;
  try {
    const resp = await fetch(`/v1/models/${encodeURIComponent(id)}/metrics`,
      { headers: authHeaders(false) });
    if (!resp.ok) return;
    const body = await resp.json();
    drawCurve(body.points);
    const last = body.points[body.points.length - 1];
    $("curve-status").textContent = last
      ? `${body.points.length} puntos · último paso ${last.step} · se actualiza cada 2 s`
      : "sin métricas para este modelo";
  } catch (err) { /* el servidor puede estar recargando: se reintenta en la próxima vuelta */ }
}

async function curveTick() {
  await loadModels().catch(() => {});
  await refreshCurve();
}

// --- mapa de atención ----------------------------------------------------------------------

// La misma escala y la misma frase que la figura de ``python -m trainer.attention`` (mapa
// «Blues» de matplotlib): blanco = 0, azul intenso = 1.
const ATTN_SCALE = "más azul = más peso.";
const BLUES = [[247, 251, 255], [222, 235, 247], [198, 219, 239], [158, 202, 225],
  [107, 174, 214], [66, 146, 198], [33, 113, 181], [8, 81, 156], [8, 48, 107]];

function bluesColor(w) {
  const t = Math.min(Math.max(w, 0), 1) * (BLUES.length - 1);
  const i = Math.min(Math.floor(t), BLUES.length - 2), f = t - i;
  const rgb = BLUES[i].map((c, k) => Math.round(c + (BLUES[i + 1][k] - c) * f));
  return `rgb(${rgb.join(", ")})`;
}

function showAttention(i) {
  const data = lab.attn;
  if (!data) return;
  document.querySelectorAll("#attn-chars .attn-char").forEach((el, j) => {
    el.classList.toggle("query", j === i);
  });
  const heads = $("attn-heads");
  heads.replaceChildren();
  data.layers.forEach((layer, l) => {
    layer.forEach((head, h) => {
      const row = document.createElement("div");
      row.className = "attn-row";
      const label = document.createElement("span");
      label.className = "attn-label";
      label.textContent = `capa ${l + 1} · cabeza ${h + 1}`;
      row.append(label);
      data.chars.forEach((ch, j) => {
        const cell = document.createElement("span");
        cell.className = "attn-cell" + (j > i ? " future" : "");
        cell.textContent = visible(ch);
        const w = j > i ? 0 : head[i][j];
        cell.dataset.weight = w.toFixed(4);
        cell.title = `${spanishNumber(w * 100, 1)} %`;
        if (j <= i) cell.style.background = bluesColor(w);
        if (w > 0.5) cell.classList.add("strong");
        row.append(cell);
      });
      heads.append(row);
    });
  });
  $("attn-hint").textContent =
    `Qué mira cada cabeza desde «${visible(data.chars[i])}» (posición ${i + 1}): ${ATTN_SCALE}`;
}

async function loadAttention() {
  const status = $("attn-status");
  const body = { prompt: $("attn-prompt").value };
  if ($("attn-model").value) body.model = $("attn-model").value;
  const resp = await fetchRetrying("/attention", {
    method: "POST", headers: authHeaders(true), body: JSON.stringify(body),
  }, (msg) => { status.textContent = msg; });
  const data = await resp.json().catch(() => null);
  if (!resp.ok) {
    status.textContent = `Error ${resp.status}: ${data && data.error ? data.error.message : ""}`;
    status.dataset.state = "error";
    return;
  }
  status.textContent = `${data.model.name} · ${data.layers.length} capas × ${data.layers[0].length} cabezas`;
  status.dataset.state = "done";
  lab.attn = data;
  const chars = $("attn-chars");
  chars.replaceChildren();
  data.chars.forEach((ch, i) => {
    const el = document.createElement("span");
    el.className = "attn-char";
    el.textContent = visible(ch);
    el.tabIndex = 0;
    el.addEventListener("mouseenter", () => showAttention(i));
    el.addEventListener("click", () => showAttention(i));  // tocar en una pantalla táctil
    el.addEventListener("focus", () => showAttention(i));
    chars.append(el);
  });
  showAttention(data.chars.length - 1);
}

window.addEventListener("DOMContentLoaded", () => {
  $("compare").addEventListener("click", compare);
  for (const id of ["model-a", "model-b"]) {
    $(id).addEventListener("change", () => { lab.userPicked = true; });
  }
  $("attn-go").addEventListener("click", loadAttention);
  $("curve-model").addEventListener("change", refreshCurve);
  curveTick();
  lab.curveTimer = setInterval(curveTick, CURVE_REFRESH_MS);
});
