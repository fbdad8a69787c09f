// seminpaint's page: upload or pick an image, paint the hole (red = missing), run a method, watch
// G(z) improve as the latent search runs (Server-Sent Events), download the result.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { imageId: null, width: 0, height: 0, drawing: false, last: null, job: null, source: null,
                losses: [], finished: false };
const imageCanvas = $("image-canvas"), maskCanvas = $("mask-canvas");
const maskContext = maskCanvas.getContext("2d");

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "note error" : "note";
}

async function readJson(response) {
  let body = null;
  try { body = await response.json(); } catch (e) { /* not JSON */ }
  if (!response.ok) {
    const message = body && body.error ? body.error : `request failed (${response.status} ${response.statusText})`;
    throw new Error(message);
  }
  return body;
}

async function init() {
  try {
    const info = await readJson(await fetch("/api/info"));
    $("model-info").textContent = `Model: ${info.model.name}, ${info.model.width}×${info.model.height}` +
      ` (${info.model.channels === 1 ? "gray" : "colour"}); any image size is fine: the region around the hole is brought to the model's size.`;
    for (const method of info.methods) {
      const option = new Option(method.label, method.name);
      $("method").add(option);
    }
    for (const sample of info.samples) {
      const option = new Option(sample.name, sample.id);
      option.dataset.width = sample.width;
      option.dataset.height = sample.height;
      $("sample").add(option);
    }
    for (const kind of info.mask_kinds) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = kind.replace("_", " ");
      button.dataset.kind = kind;
      button.addEventListener("click", () => useMaskKind(kind));
      $("kinds").appendChild(button);
    }
    $("iterations").max = info.limits.max_iterations;
    $("iterations").value = info.limits.default_iterations;
    document.body.dataset.ready = "1";
  } catch (error) {
    setStatus(`Could not reach the server: ${error.message}`, true);
  }
}

function loadImage(id, width, height, label) {
  state.imageId = id; state.width = width; state.height = height;
  for (const canvas of [imageCanvas, maskCanvas]) { canvas.width = width; canvas.height = height; }
  const picture = new Image();
  picture.onload = () => {
    imageCanvas.getContext("2d").drawImage(picture, 0, 0);
    $("go").disabled = false;
    $("image-info").textContent = `${label}: ${width}×${height} pixels. Paint the hole on it.`;
    document.body.dataset.imageLoaded = id;
  };
  picture.onerror = () => setStatus("The image could not be shown.", true);
  picture.src = `/api/images/${id}.png`;
  $("result-box").hidden = true;
  $("progress-box").hidden = true;
}

$("file").addEventListener("change", async () => {
  const file = $("file").files[0];
  if (!file) return;
  setStatus(`Uploading ${file.name}…`);
  const form = new FormData();
  form.append("file", file);
  try {
    const info = await readJson(await fetch("/api/upload", { method: "POST", body: form }));
    setStatus("");
    $("sample").value = "";
    loadImage(info.id, info.width, info.height, `${file.name} (${info.bits}-bit)`);
  } catch (error) {
    setStatus(`Upload refused: ${error.message}`, true);
  } finally {
    $("file").value = "";
  }
});

$("sample").addEventListener("change", () => {
  const option = $("sample").selectedOptions[0];
  if (!option.value) return;
  loadImage(option.value, Number(option.dataset.width), Number(option.dataset.height), option.textContent);
});

// --- painting the hole (in image pixels; the canvas is shown scaled) ---
function imagePoint(event) {
  const box = maskCanvas.getBoundingClientRect();
  return { x: (event.clientX - box.left) * maskCanvas.width / box.width,
           y: (event.clientY - box.top) * maskCanvas.height / box.height,
           scale: maskCanvas.width / box.width };
}

function paint(from, to) {
  maskContext.save();
  maskContext.globalCompositeOperation = $("erase").checked ? "destination-out" : "source-over";
  maskContext.strokeStyle = maskContext.fillStyle = "rgb(255, 0, 0)";
  maskContext.lineCap = maskContext.lineJoin = "round";
  maskContext.lineWidth = Number($("brush").value) * to.scale;
  maskContext.beginPath();
  maskContext.moveTo(from.x, from.y);
  maskContext.lineTo(to.x + 0.01, to.y);
  maskContext.stroke();
  maskContext.restore();
}

maskCanvas.addEventListener("pointerdown", (event) => {
  if (!state.imageId) return;
  state.drawing = true;
  state.last = imagePoint(event);
  paint(state.last, state.last);
  maskCanvas.setPointerCapture?.(event.pointerId);
  event.preventDefault();
});
maskCanvas.addEventListener("pointermove", (event) => {
  if (!state.drawing) return;
  const point = imagePoint(event);
  paint(state.last, point);
  state.last = point;
});
for (const name of ["pointerup", "pointercancel", "pointerleave"]) {
  maskCanvas.addEventListener(name, () => { state.drawing = false; });
}
$("clear").addEventListener("click", () => maskContext.clearRect(0, 0, maskCanvas.width, maskCanvas.height));

async function useMaskKind(kind) {
  if (!state.imageId) { setStatus("Pick or upload an image first.", true); return; }
  const seed = Number($("seed").value) || 0;
  const picture = new Image();
  picture.onload = () => {
    const scratch = document.createElement("canvas");
    scratch.width = state.width; scratch.height = state.height;
    const context = scratch.getContext("2d");
    context.drawImage(picture, 0, 0);
    const pixels = context.getImageData(0, 0, state.width, state.height);
    const out = maskContext.createImageData(state.width, state.height);
    for (let i = 0; i < pixels.data.length; i += 4) {
      if (pixels.data[i] > 127) { out.data[i] = 255; out.data[i + 3] = 255; }
    }
    maskContext.putImageData(out, 0, 0);
  };
  picture.onerror = () => setStatus("The mask could not be made.", true);
  picture.src = `/api/mask?kind=${kind}&width=${state.width}&height=${state.height}&seed=${seed}`;
}

function maskDataUrl() {
  // Painted (opaque) pixels → white = missing; the rest black = known.
  const pixels = maskContext.getImageData(0, 0, maskCanvas.width, maskCanvas.height);
  let missing = 0;
  for (let i = 0; i < pixels.data.length; i += 4) {
    const value = pixels.data[i + 3] > 127 ? 255 : 0;
    missing += value ? 1 : 0;
    pixels.data[i] = pixels.data[i + 1] = pixels.data[i + 2] = value;
    pixels.data[i + 3] = 255;
  }
  const scratch = document.createElement("canvas");
  scratch.width = maskCanvas.width; scratch.height = maskCanvas.height;
  scratch.getContext("2d").putImageData(pixels, 0, 0);
  return { url: scratch.toDataURL("image/png"), missing };
}

// --- running a job ---
function drawLosses() {
  const canvas = $("loss-plot"), context = canvas.getContext("2d");
  context.clearRect(0, 0, canvas.width, canvas.height);
  const points = state.losses;
  if (points.length < 1) return;
  const steps = points.map((p) => p[0]), values = points.map((p) => p[1]);
  const maxStep = Math.max(...steps, 1), low = Math.min(...values), high = Math.max(...values);
  const pad = 22, width = canvas.width - 2 * pad, height = canvas.height - 2 * pad;
  context.strokeStyle = "#1f6feb"; context.lineWidth = 2; context.beginPath();
  points.forEach(([step, value], index) => {
    const x = pad + width * step / maxStep;
    const y = pad + height * (high > low ? (high - value) / (high - low) : 0.5);
    if (index === 0) context.moveTo(x, y); else context.lineTo(x, y);
  });
  context.stroke();
  context.fillStyle = "#444"; context.font = "11px sans-serif";
  context.fillText(`loss ${values[values.length - 1].toFixed(2)}`, pad, 14);
  context.fillText(`step ${steps[steps.length - 1]}`, canvas.width - 70, canvas.height - 6);
}

function finish() {
  state.finished = true;
  if (state.source) { state.source.close(); state.source = null; }
  $("go").disabled = false;
}

function showUpdate(kind, info) {
  if (kind === "queued") {
    setStatus(info.position > 1 ? `Waiting: ${info.position - 1} request(s) ahead of yours.` : "Waiting: yours is next.");
  } else if (kind === "progress") {
    document.body.dataset.progressEvents = String(Number(document.body.dataset.progressEvents || 0) + 1);
    const loss = info.loss !== undefined ? `, loss ${info.loss.toFixed(2)}` : "";
    setStatus(info.method === "ours" ? `Searching: step ${info.step} of ${info.iterations}${loss}` : `Running ${info.method}…`);
    if (info.preview) { $("preview").src = info.preview; $("progress-box").hidden = false; }
    if (info.loss !== undefined) { state.losses.push([info.step, info.loss]); drawLosses(); }
  } else if (kind === "done") {
    finish();
    if (info.preview) { $("preview").src = info.preview; $("progress-box").hidden = false; }
    setStatus(`Done in ${info.seconds.toFixed(1)} s.`);
    $("result").src = `${info.result}?v=${Date.now()}`;
    $("result").dataset.job = info.job;
    $("download").href = `${info.result}?download=1`;
    $("result-box").hidden = false;
    document.body.dataset.resultJob = info.job;
  } else if (kind === "failed") {
    finish();
    setStatus(`Inpainting failed: ${info.message}`, true);
    document.body.dataset.failedJob = info.job;
  }
}

async function poll(jobId) {  // when the event stream breaks off: ask once a second
  while (!state.finished && state.job === jobId) {
    try {
      const info = await readJson(await fetch(`/api/jobs/${jobId}`));
      const kind = { queued: "queued", running: "progress", done: "done", failed: "failed" }[info.state];
      showUpdate(kind, info);
    } catch (error) {
      setStatus(`Lost the job: ${error.message}`, true);
      finish();
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

$("go").addEventListener("click", async () => {
  if (!state.imageId) { setStatus("Pick or upload an image first.", true); return; }
  const mask = maskDataUrl();
  if (!mask.missing) { setStatus("Paint the hole first (or pick a mask kind).", true); return; }
  $("go").disabled = true;
  $("result-box").hidden = true;
  state.losses = []; state.finished = false;
  drawLosses();
  setStatus("Sending…");
  try {
    const body = { image: state.imageId, mask: mask.url, method: $("method").value,
                   iterations: Number($("iterations").value), seed: Number($("seed").value) || 0 };
    const job = await readJson(await fetch("/api/inpaint", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) }));
    state.job = job.job;
    showUpdate("queued", job);
    const source = new EventSource(job.events);
    state.source = source;
    for (const kind of ["queued", "progress", "done", "failed"]) {
      source.addEventListener(kind, (event) => showUpdate(kind, JSON.parse(event.data)));
    }
    source.onerror = () => {
      if (state.finished) return;
      source.close();
      state.source = null;
      poll(job.job);
    };
  } catch (error) {
    setStatus(`Refused: ${error.message}`, true);
    $("go").disabled = false;
  }
});

$("method").addEventListener("change", () => {
  $("ours-options").querySelector("label").hidden = $("method").value !== "ours";
});

init();
