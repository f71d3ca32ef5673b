// Playground de llm-desde-cero: sin dependencias ni paso de compilación.
// Pide /info al cargar, y /generate con stream=true al pulsar «Generar»; el texto llega
// carácter a carácter como eventos SSE (se leen a mano: EventSource solo sabe hacer GET).
"use strict";

const $ = (id) => document.getElementById(id);
const state = { controller: null, selected: null, info: null };
// Candidatos que se dibujan por carácter; se piden unos pocos más (hasta el tope de /info) para
// poder dar la probabilidad del que salió aunque no esté entre estos.
const SHOWN_PROBS = 8;

// Cómo se ve un carácter invisible en las barras de probabilidad.
function visible(ch) {
  if (ch === " ") return "␣";
  if (ch === "\n") return "↵";
  if (ch === "\t") return "⇥";
  return ch;
}

// Números para personas, a la española: coma decimal (2,27). El único formateador de la página
// (playground.js y lab.js); la API sigue dando números JSON normales.
function spanishNumber(value, decimals) {
  return value.toLocaleString("es-ES", {
    minimumFractionDigits: decimals,
    maximumFractionDigits: decimals,
  });
}

// Una pérdida, igual en la insignia, las listas y la curva: 1,68.
function formatLoss(value) {
  return value == null ? "—" : spanishNumber(value, 2);
}

// La pérdida es por token: con caracteres, por carácter; con BPE, por trozo de ~2 caracteres.
// Sin la unidad, 1,7 (caracteres) y 3,4 (BPE) parecerían un modelo peor que otro.
function lossUnit(tokenizer) {
  return tokenizer === "bpe" ? "por token BPE" : "por carácter";
}

function setStatus(text, kind) {
  const el = $("status");
  el.textContent = text;
  el.dataset.state = kind;
}

function bindSlider(id, format) {
  const input = $(id);
  const out = $(id + "-value");
  const update = () => { out.textContent = format(Number(input.value)); };
  input.addEventListener("input", update);
  update();
}

async function loadInfo() {
  const badge = $("model");
  try {
    const resp = await fetch("/info");
    const info = await resp.json();
    state.info = info;
    const limits = info.limits;
    $("max-tokens").max = String(limits.max_new_tokens);
    if (Number($("max-tokens").value) > limits.max_new_tokens) {
      $("max-tokens").value = String(limits.max_new_tokens);
    }
    $("max-tokens").dispatchEvent(new Event("input"));
    $("attn-prompt").maxLength = limits.max_attention_chars; // MAX_ATTENTION_CHARS
    $("api-key-row").hidden = !info.auth_required;
    if (info.model) {
      const m = info.model;
      // Para personas: 2,27 (coma decimal, dos cifras), no 2.27152873897882.
      const loss = formatLoss(m.val_loss);
      const unit = lossUnit(info.vocab?.tokenizer);
      badge.textContent =
        `${m.name ?? "modelo"} · ${m.type} · paso ${m.step} · pérdida val. ${loss} ${unit}`;
      badge.dataset.state = "ready";
      $("top-k").max = String(info.vocab.size);
    } else {
      badge.textContent = "sin modelo: entrena uno con «make train»";
      badge.dataset.state = "missing";
    }
  } catch (err) {
    badge.textContent = "no se pudo leer /info";
    badge.dataset.state = "missing";
  }
}

function requestBody() {
  const body = {
    prompt: $("prompt").value,
    max_new_tokens: Number($("max-tokens").value),
    temperature: Number($("temperature").value),
    top_k: Number($("top-k").value),
    top_p: Number($("top-p").value),
    stream: true,
  };
  if (!$("random-seed").checked && $("seed").value !== "") body.seed = Number($("seed").value);
  if ($("show-probs").checked) {
    const max = state.info ? state.info.limits.max_top_probs : SHOWN_PROBS;
    body.top_probs = Math.max(SHOWN_PROBS, max);
  }
  return body;
}

function showProbs(span) {
  if (state.selected) state.selected.classList.remove("selected");
  state.selected = span;
  span.classList.add("selected");
  const top = JSON.parse(span.dataset.top);
  const before = span.dataset.context;
  $("probs-title").textContent = `Candidatos tras «…${before}»`;
  const bars = $("probs-bars");
  bars.replaceChildren();
  const chosen = span.dataset.char;
  const shown = top.slice(0, SHOWN_PROBS);
  for (const { char, prob } of shown) {
    bars.append(barRow(char, prob, `${spanishNumber(prob * 100, 1)} %`, char === chosen));
  }
  // El que salió siempre se ve marcado: si no está entre los mostrados, va aparte, debajo, con su
  // probabilidad (o, si tampoco llegó entre los pedidos, con la cota «menos que el último»).
  if (!shown.some((t) => t.char === chosen)) {
    const known = top.find((t) => t.char === chosen);
    const floor = top.length ? top[top.length - 1].prob : 0;
    const row = known
      ? barRow(chosen, known.prob, `${spanishNumber(known.prob * 100, 1)} %`, true)
      : barRow(chosen, 0, `< ${spanishNumber(floor * 100, 1)} %`, true);
    row.classList.add("extra");
    bars.append(row);
  }
  $("probs").hidden = false;
}

function barRow(char, prob, pctText, chosen) {
  const row = document.createElement("div");
  row.className = "bar-row" + (chosen ? " chosen" : "");
  const label = document.createElement("span");
  label.className = "char";
  label.textContent = visible(char);
  const track = document.createElement("div");
  const bar = document.createElement("div");
  bar.className = "bar";
  bar.style.width = `${(prob * 100).toFixed(1)}%`;  // CSS: punto decimal
  track.append(bar);
  const pct = document.createElement("span");
  pct.className = "pct";
  pct.textContent = pctText;
  row.append(label, track, pct);
  return row;
}

function appendChar(chunk, out, textSoFar) {
  const span = document.createElement("span");
  span.className = "gen";
  span.textContent = chunk.text;
  if (chunk.top) {
    span.classList.add("clickable");
    span.dataset.top = JSON.stringify(chunk.top);
    // El token elegido tal como lo nombran los candidatos (con BPE, «·» es un espacio).
    span.dataset.char = chunk.token ?? chunk.text;
    span.dataset.context = textSoFar.slice(-12).replaceAll("\n", "↵");
    span.addEventListener("click", () => showProbs(span));
  }
  out.append(span);
  if (chunk.top) showProbs(span);  // durante la generación, siempre el último paso
}

// Parte el flujo en eventos SSE («event:» opcional + «data:» + línea en blanco).
function* parseEvents(buffer) {
  let idx;
  while ((idx = buffer.text.indexOf("\n\n")) >= 0) {
    const raw = buffer.text.slice(0, idx);
    buffer.text = buffer.text.slice(idx + 2);
    let name = "message";
    const data = [];
    for (const line of raw.split("\n")) {
      if (line.startsWith("event:")) name = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    if (data.length) yield { name, data: JSON.parse(data.join("\n")) };
  }
}

// Un 429 con Retry-After (el proceso está cargando otro modelo, que se cargan de uno en uno, o
// todos los huecos de generación están ocupados) no es un fallo para quien mira la pantalla: se
// espera lo que dice el servidor y se vuelve a pedir, unas cuantas veces, diciéndolo.
async function fetchRetrying(url, options, onWait, tries = 15) {
  for (let attempt = 1; ; attempt++) {
    const resp = await fetch(url, options);
    const wait = Number(resp.headers.get("Retry-After"));
    if (resp.status !== 429 || !(wait > 0) || attempt >= tries) return resp;
    const err = await resp.json().catch(() => null);
    onWait(`${err && err.error ? err.error.message : "Servidor ocupado."} Reintento en ${wait} s…`);
    await new Promise((resolve) => setTimeout(resolve, wait * 1000));
  }
}

// Los eventos SSE de una respuesta en streaming, según llegan (los usan el playground y lab.js).
async function* streamEvents(resp) {
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  const buffer = { text: "" };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer.text += decoder.decode(value, { stream: true });
    yield* parseEvents(buffer);
  }
}

async function generate(ev) {
  ev.preventDefault();
  const body = requestBody();
  const out = $("output");
  out.replaceChildren();
  $("probs").hidden = true;
  $("probs-bars").replaceChildren();
  state.selected = null;
  const promptSpan = document.createElement("span");
  promptSpan.className = "prompt";
  promptSpan.textContent = body.prompt;
  out.append(promptSpan);

  const headers = { "Content-Type": "application/json" };
  const key = $("api-key").value.trim();
  if (key) headers.Authorization = `Bearer ${key}`;
  state.controller = new AbortController();
  $("generate").disabled = true;
  $("stop").disabled = false;
  setStatus("Generando…", "running");
  let text = body.prompt;
  try {
    const resp = await fetchRetrying("/generate", {
      method: "POST", headers, body: JSON.stringify(body), signal: state.controller.signal,
    }, (msg) => setStatus(msg, "running"));
    if (!resp.ok) {
      const err = await resp.json().catch(() => null);
      const msg = err && err.error ? err.error.message : `HTTP ${resp.status}`;
      setStatus(`Error ${resp.status}: ${msg}`, "error");
      return;
    }
    for await (const evt of streamEvents(resp)) {
      if (evt.name === "done") {
        const d = evt.data;
        setStatus(`Listo: ${d.usage.generated_chars} caracteres en `
          + `${spanishNumber(d.timings.total_ms, 0)} ms `
          + `(${spanishNumber(d.timings.chars_per_second, 0)} car/s) · semilla ${d.seed}`, "done");
        $("seed").value = String(d.seed);
      } else if (evt.name === "error") {
        setStatus(`Error: ${evt.data.error.message}`, "error");
      } else {
        appendChar(evt.data, out, text);
        text += evt.data.text;
      }
    }
  } catch (err) {
    if (err.name === "AbortError") setStatus("Detenido.", "stopped");
    else setStatus(`Error de red: ${err.message}`, "error");
  } finally {
    $("generate").disabled = false;
    $("stop").disabled = true;
    state.controller = null;
  }
}

window.addEventListener("DOMContentLoaded", () => {
  bindSlider("temperature", (v) => spanishNumber(v, 2));
  bindSlider("top-k", (v) => (v === 0 ? "todos" : String(v)));
  bindSlider("top-p", (v) => spanishNumber(v, 2));
  bindSlider("max-tokens", (v) => String(v));
  $("random-seed").addEventListener("change", () => { $("seed").disabled = $("random-seed").checked; });
  $("controls").addEventListener("submit", generate);
  $("stop").addEventListener("click", () => state.controller && state.controller.abort());
  loadInfo();
});
