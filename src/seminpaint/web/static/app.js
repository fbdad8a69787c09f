// seminpaint's page: upload or pick an image, paint the hole (red = missing) with a brush, eraser or
// rectangle (undo/redo, zoom and pan, mask upload and download), optionally draw the face box, run a
// method (ours with a preset and several candidates), watch G(z) improve as the latent search runs
// (Server-Sent Events), cancel it, pick a candidate, compare before/after, download the result or keep
// editing it.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { imageId: null, width: 0, height: 0, label: "", job: null, source: null, losses: [],
                finished: true, methods: [], sent: null,
                gesture: null,           // the pointer action under way: brush stroke, rectangle or pan
                zoom: 1, fitScale: 1,    // display pixels per image pixel = fitScale * zoom
                spaceHeld: false,
                face: null,              // the face box drawn: {x0, y0, x1, y1} in image pixels, or null
                chosen: 0,               // the result shown: 0 = the result (the mean), k = candidate k
                faces: false, presets: [] };
const imageCanvas = $("image-canvas"), maskCanvas = $("mask-canvas");
const maskContext = maskCanvas.getContext("2d", { willReadFrequently: true });
const viewport = $("viewport"), stage = $("stage");
const RED = "rgb(255, 0, 0)";

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
    const framing = info.faces ? "the face around the hole is found and framed as the model's training faces were"
      : "the region around the hole is brought to the model's size";
    $("model-info").textContent = `Model: ${info.model.name}, ${info.model.width}×${info.model.height}` +
      ` (${info.model.channels === 1 ? "gray" : "colour"}); any image size is fine: ${framing}. Ours runs ${info.settings}.`;
    state.methods = info.methods;
    for (const method of info.methods) {
      const option = new Option(method.label, method.name);
      option.dataset.label = method.label;
      $("method").add(option);
    }
    updateMethods();
    state.presets = info.presets;
    if (!info.preset) $("preset").add(new Option("the server's", ""));
    for (const preset of info.presets) {
      const option = new Option(preset.name, preset.name);
      option.title = preset.description;
      $("preset").add(option);
    }
    $("preset").value = info.preset || "";
    $("preset").title = info.settings;
    state.faces = info.faces;
    if (!info.faces) {
      const why = "this model is no face model: it searches around the hole";
      for (const id of ["face-tool", "face-options"]) { $(id).title = why; $(id).classList.add("unavailable"); }
      document.querySelector("input[name=tool][value=face]").disabled = true;
      $("no-face-check").disabled = true;
      $("face-info").textContent = `face box: ${why}`;
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
    $("candidates").max = info.limits.max_candidates;
    $("candidates").value = Math.min(info.candidates, info.limits.max_candidates);
    state.limits = info.limits;
    document.body.dataset.ready = "1";
  } catch (error) {
    setStatus(`Could not reach the server: ${error.message}`, true);
  }
}

// --- methods that cannot run on this image are greyed out, with the reason -------------------------
function methodProblem(method) {
  if (method.unavailable) return method.unavailable;
  if (method.size && state.imageId && (method.size[0] !== state.width || method.size[1] !== state.height)) {
    return `fills ${method.size[0]}×${method.size[1]} images only; this one is ${state.width}×${state.height}`;
  }
  return null;
}

function updateMethods() {
  const notes = $("method-notes");
  notes.textContent = "";
  for (const option of $("method").options) {
    const method = state.methods.find((m) => m.name === option.value);
    const problem = method ? methodProblem(method) : null;
    option.disabled = Boolean(problem);
    option.title = problem || "";
    option.textContent = option.dataset.label + (problem ? (method.unavailable ? " — unavailable" : " — not for this image") : "");
    if (problem) {
      const item = document.createElement("li");
      item.dataset.method = option.value;
      item.textContent = `${option.dataset.label}: ${problem}`;
      notes.appendChild(item);
    }
  }
  if ($("method").selectedOptions[0]?.disabled) $("method").value = "ours";
  showMethodOptions();
}

function showMethodOptions() {
  for (const element of document.querySelectorAll(".ours-only")) element.hidden = $("method").value !== "ours";
}
$("method").addEventListener("change", showMethodOptions);

$("preset").addEventListener("change", () => {  // a preset brings its own steps and candidates
  const preset = state.presets.find((p) => p.name === $("preset").value);
  $("preset").title = preset ? preset.description : "";
  if (!preset) return;
  $("iterations").value = Math.min(preset.iterations, state.limits.max_iterations);
  $("candidates").value = Math.min(preset.candidates, state.limits.max_candidates);
});

// --- the face box: drawn with the face tool, sent with ours; the box and square used are shown after a run
function placeBox(element, box) {  // box: {x0, y0, x1, y1} in image pixels (clipped to the image), or null
  element.hidden = !box;
  if (!box) return;
  const x0 = Math.max(0, box.x0), y0 = Math.max(0, box.y0);
  const x1 = Math.min(state.width, box.x1), y1 = Math.min(state.height, box.y1);
  element.style.left = `${100 * x0 / state.width}%`;
  element.style.top = `${100 * y0 / state.height}%`;
  element.style.width = `${100 * Math.max(0, x1 - x0) / state.width}%`;
  element.style.height = `${100 * Math.max(0, y1 - y0) / state.height}%`;
}

function xywh(box) { return [box.x0, box.y0, box.x1 - box.x0, box.y1 - box.y0]; }
function fromXywh([x, y, w, h]) { return { x0: x, y0: y, x1: x + w, y1: y + h }; }

function setFace(box) {
  state.face = box && box.x1 > box.x0 && box.y1 > box.y0 ? box : null;
  placeBox($("face-box"), state.face);
  $("clear-face").hidden = !state.face;
  if (state.faces) {
    $("face-info").textContent = state.face ? `face box: x,y,w,h = ${xywh(state.face).join(",")}`
      : "face: found in the image (or draw its box with the face box tool)";
  }
  document.body.dataset.face = state.face ? xywh(state.face).join(",") : "";
}

function showUsed(info) {  // the face box and the square the model saw, after a run of ours
  placeBox($("used-face"), info && info.face ? fromXywh(info.face) : null);
  placeBox($("used-square"), info && info.square ? fromXywh(info.square) : null);
}

$("clear-face").addEventListener("click", () => setFace(null));

// --- the image ---------------------------------------------------------------------------------------
function loadImage(id, width, height, label, { keepHole = false } = {}) {
  const before = keepHole && width === state.width && height === state.height ? fullSnapshot() : null;
  state.imageId = id; state.width = width; state.height = height; state.label = label;
  for (const canvas of [imageCanvas, maskCanvas]) { canvas.width = width; canvas.height = height; }
  resetHistory();
  if (before) pushEdit({ x: 0, y: 0, before, after: fullSnapshot(), label: "continue" });  // undo: the old hole
  state.zoom = 1;
  layout();
  updateMethods();
  const picture = new Image();
  picture.onload = () => {
    imageCanvas.getContext("2d").drawImage(picture, 0, 0);
    $("go").disabled = !state.finished;
    $("image-info").textContent = `${label}: ${width}×${height} pixels. Paint the hole on it.`;
    document.body.dataset.imageLoaded = id;
  };
  picture.onerror = () => setStatus("The image could not be shown.", true);
  picture.src = `/api/images/${id}.png`;
  if (!keepHole) $("result-box").hidden = true;
  $("progress-box").hidden = true;
  setFace(null);
  showUsed(null);
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

// --- zoom and pan: the canvases are shown at fitScale·zoom display pixels per image pixel, inside a
// scrolling viewport; drawing maps the pointer through the canvas's box, so it stays in image pixels ---
function maxZoom() { return Math.max(2, Math.min(64, 32 / state.fitScale)); }

function layout() {
  const room = Math.min(512, viewport.parentElement.clientWidth - 2 || 512);
  state.fitScale = Math.min(room / state.width, 640 / state.height) || 1;
  viewport.style.width = `${Math.floor(state.width * state.fitScale)}px`;
  viewport.style.height = `${Math.floor(state.height * state.fitScale)}px`;
  applyZoom();
}

function applyZoom() {
  const scale = state.fitScale * state.zoom;
  stage.style.width = `${state.width * scale}px`;
  stage.style.height = `${state.height * scale}px`;
  stage.classList.toggle("pixelated", state.zoom > 1 && scale >= 2);
  $("zoom-level").textContent = `${Math.round(state.zoom * 100)} %`;
  $("zoom-out").disabled = state.zoom <= 1;
  $("zoom-in").disabled = state.zoom >= maxZoom();
  document.body.dataset.zoom = String(state.zoom);
}

function zoomTo(zoom, clientX, clientY) {
  // Keep the image point under (clientX, clientY) (default: the viewport's centre) where it is.
  const box = viewport.getBoundingClientRect();  // (x, y): in the viewport's content box
  const x = clientX === undefined ? viewport.clientWidth / 2 : clientX - box.left - viewport.clientLeft;
  const y = clientY === undefined ? viewport.clientHeight / 2 : clientY - box.top - viewport.clientTop;
  const old = state.fitScale * state.zoom;
  const imageX = (viewport.scrollLeft + x) / old, imageY = (viewport.scrollTop + y) / old;
  state.zoom = Math.min(maxZoom(), Math.max(1, zoom));
  applyZoom();
  const scale = state.fitScale * state.zoom;
  viewport.scrollLeft = imageX * scale - x;
  viewport.scrollTop = imageY * scale - y;
}

$("zoom-in").addEventListener("click", () => zoomTo(state.zoom * Math.SQRT2));
$("zoom-out").addEventListener("click", () => zoomTo(state.zoom / Math.SQRT2));
$("zoom-fit").addEventListener("click", () => zoomTo(1));
viewport.addEventListener("wheel", (event) => {
  if (!state.imageId) return;
  event.preventDefault();
  zoomTo(state.zoom * Math.pow(1.2, -Math.sign(event.deltaY)), event.clientX, event.clientY);
}, { passive: false });
window.addEventListener("resize", () => { if (state.imageId) layout(); });

// --- undo / redo: each edit keeps the changed rectangle of the mask before and after --------------------
const edits = { undo: [], redo: [], bytes: 0 };
const HISTORY_BYTES = 256 * 2 ** 20, HISTORY_STEPS = 200;

function fullSnapshot() { return maskContext.getImageData(0, 0, maskCanvas.width, maskCanvas.height); }

function resetHistory() {
  edits.undo = []; edits.redo = []; edits.bytes = 0;
  updateHistoryButtons();
}

function editBytes(edit) { return edit.before.data.length + edit.after.data.length; }

function pushEdit(edit) {
  edits.undo.push(edit);
  edits.bytes += editBytes(edit);
  for (const dropped of edits.redo) edits.bytes -= editBytes(dropped);
  edits.redo = [];
  while (edits.undo.length > 1 && (edits.bytes > HISTORY_BYTES || edits.undo.length > HISTORY_STEPS)) {
    edits.bytes -= editBytes(edits.undo.shift());
  }
  updateHistoryButtons();
}

function updateHistoryButtons() {
  $("undo").disabled = edits.undo.length === 0;
  $("redo").disabled = edits.redo.length === 0;
  document.body.dataset.undo = String(edits.undo.length);
  document.body.dataset.redo = String(edits.redo.length);
}

function undo() {
  if (state.gesture || !edits.undo.length) return;
  const edit = edits.undo.pop();
  maskContext.putImageData(edit.before, edit.x, edit.y);
  edits.redo.push(edit);
  updateHistoryButtons();
}

function redo() {
  if (state.gesture || !edits.redo.length) return;
  const edit = edits.redo.pop();
  maskContext.putImageData(edit.after, edit.x, edit.y);
  edits.undo.push(edit);
  updateHistoryButtons();
}

function recordWhole(label, change) {  // an edit of the whole mask (clear, mask kind, loaded mask)
  const before = fullSnapshot();
  change();
  pushEdit({ x: 0, y: 0, before, after: fullSnapshot(), label });
}

function crop(pixels, x, y, width, height) {
  const out = new ImageData(width, height);
  for (let row = 0; row < height; row++) {
    const start = ((y + row) * pixels.width + x) * 4;
    out.data.set(pixels.data.subarray(start, start + width * 4), row * width * 4);
  }
  return out;
}

function recordRegion(label, before, box) {  // before: the whole mask when the edit began
  const x0 = Math.max(0, Math.floor(box.x0)), y0 = Math.max(0, Math.floor(box.y0));
  const x1 = Math.min(maskCanvas.width, Math.ceil(box.x1)), y1 = Math.min(maskCanvas.height, Math.ceil(box.y1));
  if (x1 <= x0 || y1 <= y0) return;
  pushEdit({ x: x0, y: y0, before: crop(before, x0, y0, x1 - x0, y1 - y0),
             after: maskContext.getImageData(x0, y0, x1 - x0, y1 - y0), label });
}

$("undo").addEventListener("click", undo);
$("redo").addEventListener("click", redo);

// --- painting the hole (in image pixels; the canvas is shown scaled) -------------------------------------
function tool() { return document.querySelector("input[name=tool]:checked").value; }

function setTool(name) {
  document.querySelector(`input[name=tool][value=${name}]`).checked = true;
  updateCursor();
}

function imagePoint(event) {
  const box = maskCanvas.getBoundingClientRect();
  return { x: (event.clientX - box.left) * maskCanvas.width / box.width,
           y: (event.clientY - box.top) * maskCanvas.height / box.height,
           scale: maskCanvas.width / box.width };
}

function paint(from, to, erase) {
  maskContext.save();
  maskContext.globalCompositeOperation = erase ? "destination-out" : "source-over";
  maskContext.strokeStyle = maskContext.fillStyle = RED;
  maskContext.lineCap = maskContext.lineJoin = "round";
  maskContext.lineWidth = Number($("brush").value) * to.scale;
  maskContext.beginPath();
  maskContext.moveTo(from.x, from.y);
  maskContext.lineTo(to.x + 0.01, to.y);
  maskContext.stroke();
  maskContext.restore();
}

function rectangleOf(a, b) {  // whole image pixels covered by the drag from a to b, clipped to the image
  const x0 = Math.max(0, Math.floor(Math.min(a.x, b.x))), y0 = Math.max(0, Math.floor(Math.min(a.y, b.y)));
  const x1 = Math.min(state.width, Math.ceil(Math.max(a.x, b.x))), y1 = Math.min(state.height, Math.ceil(Math.max(a.y, b.y)));
  return { x0, y0, x1: Math.max(x0, x1), y1: Math.max(y0, y1) };
}

function showRectangle(box) {
  const preview = $("rect-preview");
  preview.hidden = !box;
  if (!box) return;
  preview.style.left = `${100 * box.x0 / state.width}%`;
  preview.style.top = `${100 * box.y0 / state.height}%`;
  preview.style.width = `${100 * (box.x1 - box.x0) / state.width}%`;
  preview.style.height = `${100 * (box.y1 - box.y0) / state.height}%`;
}

function updateCursor(event) {
  const panning = tool() === "pan" || state.spaceHeld;
  maskCanvas.style.cursor = panning ? (state.gesture?.kind === "pan" ? "grabbing" : "grab")
    : tool() === "rect" || tool() === "face" ? "crosshair" : "none";
  const ring = $("brush-cursor");
  const brushing = !panning && (tool() === "brush" || tool() === "eraser");
  if (!event || !brushing) { if (!brushing) ring.hidden = true; return; }
  const point = imagePoint(event), size = Number($("brush").value);
  ring.hidden = false;
  ring.style.left = `${100 * point.x / state.width}%`;
  ring.style.top = `${100 * point.y / state.height}%`;
  ring.style.width = ring.style.height = `${size}px`;
}

maskCanvas.addEventListener("pointerdown", (event) => {
  if (!state.imageId || state.gesture) return;
  if (document.activeElement instanceof HTMLElement && document.activeElement !== document.body) {
    document.activeElement.blur();  // the keys (Ctrl+Z, tools, zoom) are the page's again
  }
  const point = imagePoint(event);
  if (tool() === "pan" || state.spaceHeld || event.button === 1) {
    state.gesture = { kind: "pan", x: event.clientX, y: event.clientY, left: viewport.scrollLeft, top: viewport.scrollTop };
  } else if (event.button !== 0) {
    return;
  } else if (tool() === "rect" || tool() === "face") {
    state.gesture = { kind: "rect", start: point, erase: event.altKey, face: tool() === "face",
                      box: rectangleOf(point, point) };
    showRectangle(state.gesture.box);
  } else {
    const erase = tool() === "eraser";
    const radius = Number($("brush").value) * point.scale / 2 + 2;
    state.gesture = { kind: "stroke", erase, last: point, before: fullSnapshot(), radius,
                      box: { x0: point.x - radius, y0: point.y - radius, x1: point.x + radius, y1: point.y + radius } };
    paint(point, point, erase);
  }
  maskCanvas.setPointerCapture?.(event.pointerId);
  updateCursor(event);
  event.preventDefault();
});

maskCanvas.addEventListener("pointermove", (event) => {
  updateCursor(event);
  const gesture = state.gesture;
  if (!gesture) return;
  if (gesture.kind === "pan") {
    viewport.scrollLeft = gesture.left - (event.clientX - gesture.x);
    viewport.scrollTop = gesture.top - (event.clientY - gesture.y);
  } else if (gesture.kind === "rect") {
    gesture.box = rectangleOf(gesture.start, imagePoint(event));
    showRectangle(gesture.box);
  } else {
    const point = imagePoint(event), r = gesture.radius;
    paint(gesture.last, point, gesture.erase);
    gesture.last = point;
    const box = gesture.box;
    box.x0 = Math.min(box.x0, point.x - r); box.y0 = Math.min(box.y0, point.y - r);
    box.x1 = Math.max(box.x1, point.x + r); box.y1 = Math.max(box.y1, point.y + r);
  }
});

function endGesture(event) {
  const gesture = state.gesture;
  if (!gesture) return;
  state.gesture = null;
  if (gesture.kind === "rect") {
    if (event.type === "pointerup") gesture.box = rectangleOf(gesture.start, imagePoint(event));
    showRectangle(null);
    const { x0, y0, x1, y1 } = gesture.box;
    if (gesture.face) {
      if (event.type !== "pointercancel" && x1 - x0 > 1 && y1 - y0 > 1) setFace(gesture.box);
    } else if (x1 > x0 && y1 > y0 && event.type !== "pointercancel") {
      const before = maskContext.getImageData(x0, y0, x1 - x0, y1 - y0);
      if (gesture.erase) maskContext.clearRect(x0, y0, x1 - x0, y1 - y0);
      else { maskContext.fillStyle = RED; maskContext.fillRect(x0, y0, x1 - x0, y1 - y0); }
      pushEdit({ x: x0, y: y0, before, after: maskContext.getImageData(x0, y0, x1 - x0, y1 - y0),
                 label: gesture.erase ? "erase rectangle" : "rectangle" });
    }
  } else if (gesture.kind === "stroke") {
    recordRegion(gesture.erase ? "erase" : "brush", gesture.before, gesture.box);
  }
  updateCursor(event);
}
for (const name of ["pointerup", "pointercancel"]) maskCanvas.addEventListener(name, endGesture);
maskCanvas.addEventListener("pointerleave", (event) => {
  if (!maskCanvas.hasPointerCapture?.(event.pointerId)) endGesture(event);
  $("brush-cursor").hidden = true;
});
maskCanvas.addEventListener("auxclick", (event) => event.preventDefault());
maskCanvas.addEventListener("mousedown", (event) => { if (event.button === 1) event.preventDefault(); });  // no autoscroll
viewport.addEventListener("pointerenter", () => { state.overCanvas = true; });
viewport.addEventListener("pointerleave", () => { state.overCanvas = false; });
for (const input of document.querySelectorAll("input[name=tool]")) input.addEventListener("change", () => updateCursor());

$("clear").addEventListener("click", () => {
  recordWhole("clear", () => maskContext.clearRect(0, 0, maskCanvas.width, maskCanvas.height));
});

// --- keys: Ctrl+Z undo, Ctrl+Shift+Z / Ctrl+Y redo; B E R H F tools; + − 0 zoom; Space pans ---------------
function typing(target) {
  return target instanceof HTMLTextAreaElement || target.isContentEditable ||
    (target instanceof HTMLInputElement && !["range", "checkbox", "radio", "button", "file"].includes(target.type));
}

document.addEventListener("keydown", (event) => {
  if (typing(event.target)) return;  // number fields keep their own undo
  const key = event.key.toLowerCase(), command = event.ctrlKey || event.metaKey;
  if (command && key === "z") { if (event.shiftKey) redo(); else undo(); event.preventDefault(); return; }
  if (command && key === "y") { redo(); event.preventDefault(); return; }
  if (command || event.altKey || event.target instanceof HTMLSelectElement) return;  // letters pick options there
  const tools = { b: "brush", e: "eraser", r: "rect", h: "pan", f: "face" };
  if (tools[key] && !(key === "f" && !state.faces)) setTool(tools[key]);
  else if (key === "+" || key === "=") zoomTo(state.zoom * Math.SQRT2);
  else if (key === "-") zoomTo(state.zoom / Math.SQRT2);
  else if (key === "0") zoomTo(1);
  else if (key === " " && state.imageId && state.overCanvas) { state.spaceHeld = true; updateCursor(); event.preventDefault(); }
});
document.addEventListener("keyup", (event) => {
  if (event.key === " ") { state.spaceHeld = false; updateCursor(); }
});

// --- masks: the paper's kinds, a mask file, saving the mask --------------------------------------------
function setMaskFrom(source, width, height) {
  // Draw `source` at the image's size, nearest neighbour, over black (transparent = known); white = missing.
  const scratch = document.createElement("canvas");
  scratch.width = state.width; scratch.height = state.height;
  const context = scratch.getContext("2d", { willReadFrequently: true });
  context.fillStyle = "#000";
  context.fillRect(0, 0, state.width, state.height);
  context.imageSmoothingEnabled = false;
  context.drawImage(source, 0, 0, width, height, 0, 0, state.width, state.height);
  const pixels = context.getImageData(0, 0, state.width, state.height);
  const out = maskContext.createImageData(state.width, state.height);
  let missing = 0;
  for (let i = 0; i < pixels.data.length; i += 4) {
    const luma = 0.299 * pixels.data[i] + 0.587 * pixels.data[i + 1] + 0.114 * pixels.data[i + 2];
    if (luma > 127) { out.data[i] = 255; out.data[i + 3] = 255; missing++; }
  }
  maskContext.putImageData(out, 0, 0);
  return missing;
}

async function useMaskKind(kind) {
  if (!state.imageId) { setStatus("Pick or upload an image first.", true); return; }
  const seed = Number($("seed").value) || 0;
  const picture = new Image();
  picture.onload = () => recordWhole(kind, () => setMaskFrom(picture, picture.width, picture.height));
  picture.onerror = () => setStatus("The mask could not be made.", true);
  picture.src = `/api/mask?kind=${kind}&width=${state.width}&height=${state.height}&seed=${seed}`;
}

function sameAspect(width, height) {
  // Within one pixel of the image's size once scaled to its width (or its height).
  return Math.abs(height * state.width / width - state.height) <= 1 ||
         Math.abs(width * state.height / height - state.width) <= 1;
}

$("mask-file").addEventListener("change", async () => {
  const file = $("mask-file").files[0];
  $("mask-file").value = "";
  if (!file) return;
  if (!state.imageId) { setStatus("Pick or upload an image first, then its mask.", true); return; }
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  } catch (error) {
    setStatus(`The mask ${file.name} is not an image this browser can read (a PNG, white = missing).`, true);
    return;
  }
  const { width, height } = bitmap;
  if (!sameAspect(width, height)) {
    setStatus(`The mask is ${width}×${height} but the image is ${state.width}×${state.height}: ` +
              "a mask must have the image's size or its aspect ratio.", true);
    return;
  }
  let missing = 0;
  recordWhole("load mask", () => { missing = setMaskFrom(bitmap, width, height); });
  const resized = width !== state.width || height !== state.height;
  setStatus(`Mask ${file.name} loaded${resized ? ` (${width}×${height}, resized to ${state.width}×${state.height}, nearest)` : ""}: ` +
            `${missing} missing pixel(s).` + (missing ? "" : " It has no white pixel: nothing to fill."), !missing);
  document.body.dataset.maskLoaded = String(missing);
});

function maskDataUrl(context = maskContext) {
  // Painted (opaque) pixels → white = missing; the rest black = known.
  const canvas = context.canvas;
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height);
  let missing = 0;
  for (let i = 0; i < pixels.data.length; i += 4) {
    const value = pixels.data[i + 3] > 127 ? 255 : 0;
    missing += value ? 1 : 0;
    pixels.data[i] = pixels.data[i + 1] = pixels.data[i + 2] = value;
    pixels.data[i + 3] = 255;
  }
  const scratch = document.createElement("canvas");
  scratch.width = canvas.width; scratch.height = canvas.height;
  scratch.getContext("2d").putImageData(pixels, 0, 0);
  return { url: scratch.toDataURL("image/png"), missing };
}

$("download-mask").addEventListener("click", (event) => {
  if (!state.imageId) { event.preventDefault(); setStatus("Pick or upload an image first.", true); return; }
  $("download-mask").href = maskDataUrl().url;  // the link then saves it (white = missing)
});

// --- running a job -----------------------------------------------------------------------------------
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
  $("go").disabled = !state.imageId;
  $("cancel").hidden = true;
}

function copyCanvas(canvas) {
  const copy = document.createElement("canvas");
  copy.width = canvas.width; copy.height = canvas.height;
  copy.getContext("2d").drawImage(canvas, 0, 0);
  return copy;
}

// --- before / after ------------------------------------------------------------------------------------
function drawBefore() {
  const sent = state.sent, canvas = $("before");
  if (!sent) return;
  canvas.width = sent.image.width; canvas.height = sent.image.height;
  const context = canvas.getContext("2d");
  context.drawImage(sent.image, 0, 0);
  if ($("show-hole").checked) {
    context.globalAlpha = 0.55;
    context.drawImage(sent.mask, 0, 0);
    context.globalAlpha = 1;
  }
}

function setCompare(percent) {
  percent = Math.min(100, Math.max(0, percent));
  $("compare-slider").value = String(percent);
  $("result").style.clipPath = `inset(0 0 0 ${percent}%)`;
  $("compare-line").style.left = `${percent}%`;
}

$("compare-slider").addEventListener("input", () => setCompare(Number($("compare-slider").value)));
$("show-hole").addEventListener("change", drawBefore);
(() => {
  const compare = $("compare");
  let dragging = false;
  const follow = (event) => {
    const box = compare.getBoundingClientRect();
    setCompare(100 * (event.clientX - box.left) / box.width);
  };
  compare.addEventListener("pointerdown", (event) => {
    dragging = true; compare.setPointerCapture?.(event.pointerId); follow(event); event.preventDefault();
  });
  compare.addEventListener("pointermove", (event) => { if (dragging) follow(event); });
  for (const name of ["pointerup", "pointercancel"]) compare.addEventListener(name, () => { dragging = false; });
})();

// --- candidates: the K completions and their mean side by side; the one clicked is the result shown ----
function candidateName(info, k) {  // "candidate 2 (mirrored)" for one that searched the mirror image
  return `candidate ${k}` + (info.mirrored && info.mirrored[k - 1] ? " (mirrored)" : "");
}

function choose(k) {
  const info = state.done;
  state.chosen = k;
  const query = k ? `?candidate=${k}` : "";
  $("result").src = `${info.result}${query}${query ? "&" : "?"}v=${Date.now()}`;
  $("download").href = `${info.result}${query}${query ? "&" : "?"}download=1`;
  $("shown-label").textContent = info.completions ? (k ? `— ${candidateName(info, k)}` : "— the mean of the candidates") : "";
  for (const button of $("thumbs").querySelectorAll("button")) {
    button.setAttribute("aria-pressed", String(Number(button.dataset.candidate) === k));
  }
  document.body.dataset.chosen = String(k);
}

const THUMBNAIL = 76;  // CSS pixels on the longer side

function thumbnail(url, caption, k, region) {
  // The region (x, y, w, h in image pixels: the square the model saw, within the image) of the picture.
  const figure = document.createElement("figure");
  const picture = document.createElement("canvas");
  const scale = THUMBNAIL / Math.max(region[2], region[3]);
  picture.width = Math.round(region[2] * scale); picture.height = Math.round(region[3] * scale);
  picture.setAttribute("aria-label", caption);
  const source = new Image();
  source.onload = () => {
    picture.getContext("2d").drawImage(source, ...region, 0, 0, picture.width, picture.height);
    picture.dataset.loaded = "1";
  };
  source.src = `${url}${url.includes("?") ? "&" : "?"}v=${Date.now()}`;
  if (k === null) {
    figure.className = "spread";
    figure.appendChild(picture);
  } else {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.candidate = String(k);
    button.title = `show ${caption}`;
    button.appendChild(picture);
    button.addEventListener("click", () => choose(k));
    figure.appendChild(button);
  }
  const label = document.createElement("figcaption");
  label.textContent = caption;
  figure.appendChild(label);
  $("thumbs").appendChild(figure);
}

function showCandidates(info) {
  $("thumbs").textContent = "";
  $("candidates-box").hidden = !info.completions;
  if (!info.completions) return;
  const [x, y, w, h] = info.square || [0, 0, state.width, state.height];
  const x0 = Math.max(0, x), y0 = Math.max(0, y);
  const region = [x0, y0, Math.min(state.width, x + w) - x0, Math.min(state.height, y + h) - y0];
  thumbnail(info.result, "mean", 0, region);
  info.completions.forEach((url, index) => thumbnail(url, candidateName(info, index + 1), index + 1, region));
  if (info.spread) thumbnail(info.spread, `spread (white: ${info.spread_max})`, null, region);
}

function showUpdate(kind, info) {
  if (info.job && state.job && info.job !== state.job) return;  // an earlier job's late message
  if (kind === "queued") {
    setStatus(info.position > 1 ? `Waiting: ${info.position - 1} request(s) ahead of yours.` : "Waiting: yours is next.");
  } else if (kind === "progress") {
    document.body.dataset.progressEvents = String(Number(document.body.dataset.progressEvents || 0) + 1);
    const loss = info.loss !== undefined ? `, loss ${info.loss.toFixed(2)}` : "";
    if (!state.cancelling) {
      setStatus(info.method === "ours" ? `Searching: step ${info.step} of ${info.iterations}${loss}` : `Running ${info.method}…`);
    }
    if (info.preview) { $("preview").src = info.preview; $("progress-box").hidden = false; }
    if (info.loss !== undefined) { state.losses.push([info.step, info.loss]); drawLosses(); }
  } else if (kind === "done") {
    finish();
    if (info.preview) { $("preview").src = info.preview; $("progress-box").hidden = false; }
    setStatus(`Done in ${info.seconds.toFixed(1)} s.` + (info.warning ? ` Note: ${info.warning}.` : ""));
    drawBefore();
    setCompare(Number($("compare-slider").value));
    state.done = info;
    $("result").dataset.job = info.job;
    $("result").dataset.method = info.method;
    showCandidates(info);
    choose(0);
    showUsed(info);
    $("result-box").hidden = false;
    document.body.dataset.resultJob = info.job;
  } else if (kind === "failed") {
    finish();
    setStatus(`Inpainting failed: ${info.message}`, true);
    document.body.dataset.failedJob = info.job;
  } else if (kind === "cancelled") {
    finish();
    setStatus(`Cancelled (${info.message}).`);
    document.body.dataset.cancelledJob = info.job;
  }
}

const KINDS = { queued: "queued", running: "progress", done: "done", failed: "failed", cancelled: "cancelled" };

async function poll(jobId) {  // when the event stream breaks off: ask once a second
  while (!state.finished && state.job === jobId) {
    try {
      const info = await readJson(await fetch(`/api/jobs/${jobId}`));
      showUpdate(KINDS[info.state], info);
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
  showUsed(null);
  state.losses = []; state.finished = false; state.cancelling = false; state.job = null;
  state.sent = { image: copyCanvas(imageCanvas), mask: copyCanvas(maskCanvas), imageId: state.imageId };
  drawLosses();
  setStatus("Sending…");
  try {
    const body = { image: state.imageId, mask: mask.url, method: $("method").value,
                   iterations: Number($("iterations").value), seed: Number($("seed").value) || 0 };
    if (body.method === "ours") {
      if ($("preset").value) body.preset = $("preset").value;
      body.candidates = Number($("candidates").value);
      if (state.face) body.face = xywh(state.face).join(",");
      if ($("no-face-check").checked) body.face_check = false;
    }
    const job = await readJson(await fetch("/api/inpaint", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) }));
    state.job = job.job;
    $("cancel").hidden = false;
    $("cancel").disabled = false;
    showUpdate("queued", job);
    const source = new EventSource(job.events);
    state.source = source;
    for (const kind of ["queued", "progress", "done", "failed", "cancelled"]) {
      source.addEventListener(kind, (event) => showUpdate(kind, JSON.parse(event.data)));
    }
    source.onerror = () => {
      if (state.finished || state.source !== source) return;
      source.close();
      state.source = null;
      poll(job.job);
    };
  } catch (error) {
    setStatus(`Refused: ${error.message}`, true);
    state.finished = true;
    $("go").disabled = false;
  }
});

$("cancel").addEventListener("click", async () => {
  if (!state.job || state.finished) return;
  $("cancel").disabled = true;
  state.cancelling = true;
  try {
    const info = await readJson(await fetch(`/api/jobs/${state.job}/cancel`, { method: "POST" }));
    if (info.state === "running" && !state.finished) setStatus("Stopping at the next step…");
    else if (info.state === "cancelled") showUpdate("cancelled", { job: state.job, message: "cancelled before it started" });
  } catch (error) {
    state.cancelling = false;
    setStatus(`Could not cancel: ${error.message}`);
  }
});

$("continue").addEventListener("click", async () => {
  const jobId = $("result").dataset.job;
  if (!jobId) return;
  $("continue").disabled = true;
  try {
    const query = state.chosen ? `?candidate=${state.chosen}` : "";
    const info = await readJson(await fetch(`/api/jobs/${jobId}/continue${query}`, { method: "POST" }));
    const method = ($("result").dataset.method || "a method") + (state.chosen ? `, candidate ${state.chosen}` : "");
    loadImage(info.id, info.width, info.height, `${state.label}, inpainted (${method})`, { keepHole: true });
    setStatus("The result is now the image: paint the next hole (Ctrl+Z brings the last one back).");
    document.body.dataset.continuedFrom = jobId;
  } catch (error) {
    setStatus(`Could not continue: ${error.message}`, true);
  } finally {
    $("continue").disabled = false;
  }
});

updateCursor();
init();
