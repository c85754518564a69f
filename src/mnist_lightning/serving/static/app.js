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
      const answer = await readAnswer(response);
      if (mine !== newest) return;
      if (!response.ok || answer.error) setStatus(answer.error || `The server answered ${response.status}.`, true);
      else show(answer);
    } catch (error) {
      if (mine === newest) setStatus(`The server did not answer (${error.message || error}).`, true);
    } finally {
      inFlight = false;
      completed += 1;
      document.body.dataset.completed = String(completed);
      if (queued) { queued = false; sendPad(); } else { document.body.dataset.busy = "0"; }
    }
  }

  // Any answer as one line: this server's JSON {"detail": ...}, or a plain-text one (a proxy's).
  async function readAnswer(response) {
    const text = await response.text();
    let answer = null;
    try { answer = JSON.parse(text); } catch (error) { answer = null; }
    if (response.ok && answer) return answer;
    const detail = answer && typeof answer.detail === "string" ? answer.detail : text.split("\n")[0].slice(0, 200);
    return { error: `The server answered ${response.status}${detail ? ": " + detail : ""}` };
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

  // A file within the server's body limit is sent as it is: the server alone decides what it reads.
  // A photo over the limit (a phone's 12 Mpx, 3-6 MB) is decoded here, within the server's pixel
  // budget for a JPEG, drawn upright (EXIF orientation) at most MAX_SIDE pixels a side and sent as
  // JPEG; what the server would refuse (not a whole JPEG, too many pixels, unreadable) is refused here.
  const MAX_SIDE = 1024;
  let limits = { max_request_bytes: 2000000, max_jpeg_pixels: 50000000 };  // /api/health's

  function isWholeJpeg(bytes) {
    if (bytes[0] !== 0xff || bytes[1] !== 0xd8) return null;  // not a JPEG
    let end = -1, scan = -1;
    for (let i = bytes.length - 2; i >= 0 && (end < 0 || scan < 0); i--) {
      if (bytes[i] !== 0xff) continue;
      if (end < 0 && bytes[i + 1] === 0xd9) end = i;
      if (bytes[i + 1] === 0xda) scan = i;
    }
    return end > scan && scan >= 0;
  }

  async function downsized(file) {
    const tooLarge = `${file.name}: ${file.size.toLocaleString("en")} bytes is over the server's limit ` +
      `(${limits.max_request_bytes.toLocaleString("en")}) and not a JPEG photo this page can scale down; scale it down first`;
    const whole = isWholeJpeg(new Uint8Array(await file.arrayBuffer()));
    if (whole === null) throw new Error(tooLarge);
    if (!whole) throw new Error(`${file.name}: the JPEG data is cut short (no end marker after the last scan); send the whole file`);
    let bitmap;
    try {
      bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
    } catch (error) {
      throw new Error(`${file.name}: not a readable image (cut short or corrupt); send a whole PNG, JPEG, GIF, BMP or WebP file`);
    }
    if (bitmap.width * bitmap.height > limits.max_jpeg_pixels) {
      bitmap.close();
      throw new Error(`${file.name}: ${bitmap.width}x${bitmap.height} pixels is far too large for a digit ` +
        `(limit ${limits.max_jpeg_pixels.toLocaleString("en")} pixels for a JPEG); scale it down first`);
    }
    const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(bitmap.width * scale));
    canvas.height = Math.max(1, Math.round(bitmap.height * scale));
    const context = canvas.getContext("2d");
    context.fillStyle = "#fff";
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
    if (file.size <= limits.max_request_bytes) { send(file, file.name); return; }
    try {
      const blob = await downsized(file);
      send(blob, file.name.replace(/\.[^.]*$/, "") + ".jpg");
    } catch (error) {
      setStatus(error.message, true);
      inFlight = false;
      completed += 1;
      document.body.dataset.completed = String(completed);
      document.body.dataset.busy = "0";
    }
  }

  document.getElementById("clear").addEventListener("click", clearPad);
  const picker = document.getElementById("file");
  picker.addEventListener("change", () => {
    const file = picker.files[0];
    picker.value = "";  // choosing the same file again is a change too
    sendFile(file);
  });
  pad.addEventListener("dragover", (event) => { event.preventDefault(); pad.classList.add("dragging"); });
  pad.addEventListener("dragleave", () => pad.classList.remove("dragging"));
  pad.addEventListener("drop", (event) => {
    event.preventDefault();
    pad.classList.remove("dragging");
    sendFile(event.dataTransfer.files[0]);
  });

  fetch("/api/health").then((r) => r.json()).then((health) => {
    limits = { ...limits, ...health };
    const m = health.model;
    document.getElementById("model").textContent =
      `Model: ${m.format} file, ${m.weights || "?"} weights, step ${m.step ?? "?"}`;
  }).catch(() => {});
  document.body.dataset.busy = "0";
  document.body.dataset.completed = "0";
  clearPad();
})();
