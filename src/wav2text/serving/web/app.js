// The wav2text page: a file in, its words out, played with the current word lit;
// the microphone live over the WebSocket, partial words then final ones.
"use strict";

const $ = (id) => document.getElementById(id);
let result = null; // the verbose_json answer for the file shown
let apiKey = sessionStorage.getItem("wav2text-api-key") || ""; // for a server started with --api-key

function askForKey() {
  const key = prompt("This server needs an API key (wav2text serve --api-key):");
  if (key) sessionStorage.setItem("wav2text-api-key", (apiKey = key.trim()));
  return Boolean(key);
}

fetch("/health").then((r) => r.json()).then((h) => { $("model").textContent = h.model; });

// --- a file ------------------------------------------------------------------------------

const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  if (e.dataTransfer.files.length) transcribe(e.dataTransfer.files[0]);
});
$("file-input").addEventListener("change", (e) => {
  if (e.target.files.length) transcribe(e.target.files[0]);
});

function transcribe(file) {
  const form = new FormData();
  form.append("file", file);
  form.append("response_format", "verbose_json");
  form.append("timestamp_granularities[]", "word");
  form.append("timestamp_granularities[]", "segment");
  const request = new XMLHttpRequest();
  request.open("POST", "/v1/audio/transcriptions");
  if (apiKey) request.setRequestHeader("Authorization", `Bearer ${apiKey}`);
  progress(0, "uploading");
  $("file-error").hidden = true;
  clearResult();  // a failed upload must not leave the last file's words on screen
  request.upload.onprogress = (e) => {
    if (e.lengthComputable) progress(e.loaded / e.total, "uploading");
  };
  request.upload.onload = () => progress(1, "transcribing", true);
  request.onload = () => {
    $("progress").hidden = true;
    const body = JSON.parse(request.responseText || "{}");
    if (request.status === 401 && askForKey()) return transcribe(file);
    if (request.status !== 200) return fail("file-error", body.error ? body.error.message : request.statusText);
    show(body, file.name, URL.createObjectURL(file));
  };
  request.onerror = () => fail("file-error", "the server could not be reached");
  request.send(form);
}

function progress(share, label, busy = false) {
  const box = $("progress");
  box.hidden = false;
  box.classList.toggle("busy", busy);
  box.querySelector(".bar").style.width = `${Math.round(share * 100)}%`;
  box.querySelector(".label").textContent = busy ? label + "…" : `${label} ${Math.round(share * 100)} %`;
}

function clearResult() {
  result = null;
  const player = $("player");
  player.pause();
  player.removeAttribute("src");
  $("result").hidden = true;
}

function fail(where, message) {
  $("progress").hidden = true;
  $(where).textContent = message;
  $(where).hidden = false;
}

function show(body, name, audioUrl) {
  result = body;
  $("result").hidden = false;
  $("result-title").textContent = name;
  const player = $("player");
  player.hidden = !audioUrl;
  if (audioUrl) player.src = audioUrl;
  const transcript = $("transcript");
  transcript.replaceChildren();
  (body.words || []).forEach((w) => {
    const span = document.createElement("span");
    span.className = "word" + (w.confidence < 0.5 ? " low" : "");
    span.textContent = w.word;
    span.dataset.start = w.start;
    span.dataset.end = w.end;
    span.title = `${w.start.toFixed(2)}–${w.end.toFixed(2)} s, confidence ${w.confidence.toFixed(2)}`;
    span.addEventListener("click", () => { player.currentTime = w.start; player.play(); });
    transcript.append(span, " ");
  });
  facts(body.audio || {}, body.duration);
  $("result").scrollIntoView({ block: "start", behavior: "smooth" });  // below the fold at 1280x800
  const warnings = $("warnings");
  warnings.replaceChildren(...(body.warnings || []).map((text) => {
    const item = document.createElement("li");
    item.textContent = text;
    return item;
  }));
}

function facts(audio, duration) {
  const rows = [
    ["rate", audio.source_rate ? `${audio.source_rate} Hz (${audio.rate_source})` : "—"],
    ["resampled to", audio.resampled ? `${audio.model_rate} Hz` : `no (the model's ${audio.model_rate} Hz)`],
    ["channels", audio.channels > 1 ? `${audio.channels}, mixed to mono` : String(audio.channels ?? "—")],
    ["format", [(audio.container || "").split(",")[0], audio.codec].filter(Boolean).join(", ") || "—"],
    ["duration", duration != null ? `${duration.toFixed(2)} s` : "—"],
    ["steps", audio.steps || "—"],
  ];
  $("facts").replaceChildren(...rows.flatMap(([term, value]) => {
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = term;
    dd.textContent = value;
    return [dt, dd];
  }));
}

$("player").addEventListener("timeupdate", () => {
  // the word being said: the last one begun, until a little after it ends
  const t = $("player").currentTime;
  const spans = [...document.querySelectorAll("#transcript .word")];
  const begun = spans.filter((span) => +span.dataset.start <= t).pop();
  spans.forEach((span) => {
    span.classList.toggle("current", span === begun && t < +span.dataset.end + 0.3);
  });
});

// --- downloads, made here from the words --------------------------------------------------

function stamp(seconds, comma) {
  const ms = Math.round(seconds * 1000);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  const h = Math.floor(ms / 3600000), m = Math.floor(ms / 60000) % 60, s = Math.floor(ms / 1000) % 60;
  return `${pad(h)}:${pad(m)}:${pad(s)}${comma ? "," : "."}${pad(ms % 1000, 3)}`;
}

function render(format) {
  const segments = result.segments || [];
  if (format === "txt") return result.text + "\n";
  if (format === "json") return JSON.stringify(result, null, 2) + "\n";
  const cues = segments.map((s, i) =>
    `${format === "srt" ? i + 1 + "\n" : ""}${stamp(s.start, format === "srt")} --> ${stamp(s.end, format === "srt")}\n${s.text}\n`);
  return (format === "vtt" ? "WEBVTT\n\n" : "") + cues.join("\n");
}

document.querySelectorAll("#downloads a").forEach((link) => {
  link.addEventListener("click", (e) => {
    e.preventDefault();
    if (!result) return;
    const format = link.dataset.format;
    const blob = new Blob([render(format)], { type: "text/plain" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = `${($("result-title").textContent || "transcript").replace(/\.[^.]+$/, "")}.${format}`;
    a.click();
  });
});

// --- the microphone, live -----------------------------------------------------------------

let live = null;

$("record").addEventListener("click", () => (live ? stop() : start()));

async function start() {
  $("live-error").hidden = true;
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1 } });
  } catch (err) {
    return fail("live-error", `no microphone: ${err.message}`);
  }
  const context = new AudioContext();
  await context.audioWorklet.addModule("/static/pcm-worklet.js");
  const source = context.createMediaStreamSource(stream);
  const tap = new AudioWorkletNode(context, "pcm-tap");
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const key = apiKey ? `&api_key=${encodeURIComponent(apiKey)}` : "";
  const url = `${scheme}://${location.host}/v1/audio/stream?format=f32le&sample_rate=${context.sampleRate}&channels=1${key}`;
  const socket = new WebSocket(url);
  socket.binaryType = "arraybuffer";
  live = { stream, context, socket, source, tap, words: [], heard: [] };
  $("live-final").textContent = "";
  $("live-partial").textContent = "";
  socket.onopen = () => {
    tap.port.onmessage = (e) => {
      if (!live) return;  // the worklet may post once more after the stream ended
      live.heard.push(e.data);
      if (socket.readyState === 1) socket.send(e.data.buffer);
    };
    source.connect(tap);
    $("record").classList.add("on");
    $("record").textContent = "■ Stop";
    $("live-status").textContent = `listening (${context.sampleRate} Hz)`;
  };
  socket.onmessage = (e) => heard(JSON.parse(e.data));
  socket.onclose = () => finish();
}

function heard(event) {
  if (event.type === "partial") $("live-partial").textContent = event.text;
  if (event.type === "final") {
    live.words.push(...event.words);
    $("live-final").textContent = live.words.map((w) => w.word).join(" ");
    $("live-partial").textContent = "";
  }
  if (event.type === "error" || event.type === "warning") fail("live-error", event.message);
  if (event.type === "done") {
    $("live-status").textContent = `done: ${event.duration.toFixed(1)} s heard`;
    const words = live.words;
    const segments = words.length ? [{ start: words[0].start, end: words[words.length - 1].end, text: event.text }] : [];
    const body = { text: event.text, words, segments, duration: event.duration, audio: event.audio, warnings: event.warnings || [] };
    show(body, "From the microphone", wavUrl(live.heard, live.context.sampleRate));
  }
}

function wavUrl(chunks, rate) {
  // what was sent, as a 16-bit WAV the player can play back
  const n = chunks.reduce((sum, c) => sum + c.length, 0);
  const view = new DataView(new ArrayBuffer(44 + 2 * n));
  const text = (at, s) => [...s].forEach((c, i) => view.setUint8(at + i, c.charCodeAt(0)));
  text(0, "RIFF"); view.setUint32(4, 36 + 2 * n, true); text(8, "WAVEfmt ");
  view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, rate, true); view.setUint32(28, 2 * rate, true);
  view.setUint16(32, 2, true); view.setUint16(34, 16, true); text(36, "data");
  view.setUint32(40, 2 * n, true);
  let at = 44;
  chunks.forEach((c) => c.forEach((x) => {
    view.setInt16(at, Math.max(-1, Math.min(1, x)) * 32767, true);
    at += 2;
  }));
  return URL.createObjectURL(new Blob([view], { type: "audio/wav" }));
}

function stop() {
  if (!live) return;
  $("live-status").textContent = "finishing…";
  live.stream.getTracks().forEach((t) => t.stop());
  if (live.socket.readyState === 1) live.socket.send(JSON.stringify({ type: "stop" }));
}

function finish() {
  if (!live) return;
  live.tap.port.onmessage = null;
  live.source.disconnect();
  live.stream.getTracks().forEach((t) => t.stop());
  live.context.close();
  live = null;
  $("record").classList.remove("on");
  $("record").textContent = "● Record";
}
