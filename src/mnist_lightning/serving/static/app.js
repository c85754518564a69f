"use strict";
// Drawing pad -> PNG -> POST /api/predict -> top-3 bars and the 28x28 image the model saw.
(function () {
  const pad = document.getElementById("pad");
  const ctx = pad.getContext("2d");
  const statusLine = document.getElementById("status");
  const prediction = document.getElementById("prediction");
  const bars = document.getElementById("bars");
  const seen = document.getElementById("seen");
  const THROTTLE_MS = 150;
  // One pad request at a time (a stroke sends at most every THROTTLE_MS, and once more when it
  // ends); answers to anything but the newest request are dropped, so the page never shows a stale guess.
  let drawing = false, last = null, inFlight = false, queued = false, lastSent = 0, completed = 0, newest = 0;

  function clearPad() {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, pad.width, pad.height);
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.strokeStyle = "#fff";
    ctx.fillStyle = "#fff";
    ctx.lineWidth = pad.width / 12;
    prediction.textContent = "";
    prediction.dataset.digit = "";
    bars.innerHTML = "";
    seen.getContext("2d").clearRect(0, 0, 28, 28);
    setStatus("The model's guess appears here while you draw.");
  }

  function setStatus(text, isError) {
    statusLine.textContent = text;
    statusLine.classList.toggle("error", Boolean(isError));
  }

  function point(event) {
    const box = pad.getBoundingClientRect();
    return { x: (event.clientX - box.left) * pad.width / box.width, y: (event.clientY - box.top) * pad.height / box.height };
  }

  pad.addEventListener("pointerdown", (event) => {
    drawing = true;
    pad.setPointerCapture(event.pointerId);
    last = point(event);
    ctx.beginPath();
    ctx.arc(last.x, last.y, ctx.lineWidth / 2, 0, 2 * Math.PI);
    ctx.fill();
  });
  pad.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    const p = point(event);
    ctx.beginPath();
    ctx.moveTo(last.x, last.y);
    ctx.lineTo(p.x, p.y);
    ctx.stroke();
    last = p;
    schedule(false);
  });
  for (const type of ["pointerup", "pointercancel"]) {
    pad.addEventListener(type, () => {
      if (!drawing) return;
      drawing = false;
      schedule(true);
    });
  }

  function schedule(now) {
    if (inFlight) { queued = true; return; }
    if (now || performance.now() - lastSent >= THROTTLE_MS) sendPad();
  }

  function sendPad() {
    inFlight = true;  // before toBlob's callback: no second request may start meanwhile
    document.body.dataset.busy = "1";
    pad.toBlob((blob) => send(blob, "pad.png"), "image/png");
  }

  async function send(blob, name) {
    inFlight = true;
    lastSent = performance.now();
    document.body.dataset.busy = "1";
    const mine = ++newest;
    const form = new FormData();
    form.append("file", blob, name);
    try {
      const response = await fetch("/api/predict", { method: "POST", body: form });
      const answer = await response.json();
      if (mine !== newest) return;
      if (!response.ok) setStatus(answer.detail || `error ${response.status}`, true);
      else show(answer);
    } catch (error) {
      setStatus(`The server did not answer (${error}).`, true);
    } finally {
      inFlight = false;
      completed += 1;
      document.body.dataset.completed = String(completed);
      if (queued) { queued = false; sendPad(); } else { document.body.dataset.busy = "0"; }
    }
  }

  function show(answer) {
    drawSeen(answer.input);
    if (answer.digit === null) {
      prediction.textContent = "–";
      prediction.dataset.digit = "none";
      bars.innerHTML = "";
      setStatus(answer.message);
      return;
    }
    prediction.textContent = String(answer.digit);
    prediction.dataset.digit = String(answer.digit);
    setStatus(`Looks like a ${answer.digit} (p = ${answer.probability.toFixed(3)}).`);
    bars.innerHTML = "";
    for (const entry of answer.top) {
      const item = document.createElement("li");
      item.dataset.digit = String(entry.digit);
      const percent = (100 * entry.probability).toFixed(1);
      const fill = span("fill", "");
      fill.style.width = `${percent}%`;  // set through the DOM: the page's CSP allows no inline style attributes
      const bar = span("bar", "");
      bar.appendChild(fill);
      item.append(span("d", String(entry.digit)), bar, span("p", `${percent}%`));
      bars.appendChild(item);
    }
  }

  function span(className, text) {
    const element = document.createElement("span");
    element.className = className;
    element.textContent = text;
    return element;
  }

  function drawSeen(rows) {
    const small = seen.getContext("2d");
    if (!rows) { small.clearRect(0, 0, 28, 28); return; }
    const image = small.createImageData(28, 28);
    rows.flat().forEach((value, i) => {
      const v = Math.round(255 * value);
      image.data.set([v, v, v, 255], 4 * i);
    });
    small.putImageData(image, 0, 0);
  }

  // A phone photo (12 Mpx, 3-6 MB) is over the server's body limit and far more than a digit needs:
  // it is drawn upright (EXIF orientation) onto a canvas of at most MAX_SIDE pixels and sent as JPEG.
  const MAX_SIDE = 1024;
  let maxBytes = 2000000;  // the server's limit, from /api/health

  async function downsized(file) {
    let bitmap;
    try {
      bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
    } catch (error) {
      return file;  // not an image this browser reads: the server says why
    }
    const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
    if (scale === 1 && file.size <= maxBytes) { bitmap.close(); return file; }
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(bitmap.width * scale));
    canvas.height = Math.max(1, Math.round(bitmap.height * scale));
    const context = canvas.getContext("2d");
    context.fillStyle = "#fff";  // transparency on white, as the server composites it
    context.fillRect(0, 0, canvas.width, canvas.height);
    context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.92));
  }

  async function sendFile(file) {
    if (!file) return;
    clearPad();
    setStatus(`Classifying ${file.name}…`);
    inFlight = true;
    document.body.dataset.busy = "1";
    const blob = await downsized(file);
    send(blob, blob === file ? file.name : file.name.replace(/\.[^.]*$/, "") + ".jpg");
  }

  document.getElementById("clear").addEventListener("click", clearPad);
  document.getElementById("file").addEventListener("change", (event) => sendFile(event.target.files[0]));
  pad.addEventListener("dragover", (event) => { event.preventDefault(); pad.classList.add("dragging"); });
  pad.addEventListener("dragleave", () => pad.classList.remove("dragging"));
  pad.addEventListener("drop", (event) => {
    event.preventDefault();
    pad.classList.remove("dragging");
    sendFile(event.dataTransfer.files[0]);
  });

  fetch("/api/health").then((r) => r.json()).then((health) => {
    maxBytes = health.max_request_bytes || maxBytes;
    const m = health.model;
    document.getElementById("model").textContent =
      `Model: ${m.format} file, ${m.weights || "?"} weights, step ${m.step ?? "?"}`;
  }).catch(() => {});
  document.body.dataset.busy = "0";
  document.body.dataset.completed = "0";
  clearPad();
})();
