// Capture page: camera -> session -> flash colours + challenge prompts while recording -> decision.
// Vanilla JS, no build step. Frames are kept in memory only and sent once to /api/evaluate.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const ui = {
    camera: $("camera"), start: $("start"), again: $("again"), video: $("preview"), prompt: $("prompt"), status: $("status"),
    error: $("error"), result: $("result"), heading: $("result-heading"), decision: $("decision"),
    bar: $("score-bar"), fill: $("score-fill"), detail: $("detail"), tests: document.querySelector("#tests tbody"),
    checks: $("session-checks"), flash: $("flash"), flashPrompt: $("flash-prompt"), motionNote: $("motion-note"),
  };
  const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  const STATUS_TEXT = {
    ok: "OK", not_applicable: "Not applicable", no_face: "No face found", multiple_faces: "Several faces",
    low_quality: "Low quality", timeout: "Timed out", unavailable: "Unavailable", error: "Error",
    unspecified: "Unknown",
  };
  const FLASH_PROMPT = "Keep your face in view while the colours change";
  let stream = null;

  function say(text) { ui.status.textContent = text; }
  function showError(text) { ui.error.textContent = text; ui.error.hidden = !text; }
  function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

  async function api(path, body) {
    const response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: body === undefined ? "" : JSON.stringify(body),
    });
    let payload = null;
    try { payload = await response.json(); } catch (e) { payload = null; }
    if (!response.ok) {
      const message = payload && payload.error ? payload.error : `HTTP ${response.status}`;
      throw new Error(message);
    }
    return payload;
  }

  async function openCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw new Error("This browser cannot open the camera here (it needs HTTPS or localhost).");
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: false, video: { facingMode: "user", width: { ideal: 640 }, height: { ideal: 480 } },
      });
    } catch (e) {
      throw new Error(`The camera could not be opened (${e.name}). Allow camera access and try again.`);
    }
    ui.video.srcObject = stream;
    ui.camera.hidden = false;
    await ui.video.play();
    for (let i = 0; i < 100 && !ui.video.videoWidth; i++) await sleep(50);
    if (!ui.video.videoWidth) throw new Error("The camera sends no picture.");
  }

  function closeCamera() {
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null;
    ui.video.srcObject = null;
    ui.camera.hidden = true;
  }

  // Black or white text, whichever contrasts more with an sRGB background.
  function textColourOn(rgb) {
    const lin = rgb.map((c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); });
    const luminance = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
    return luminance > 0.179 ? "#000000" : "#ffffff";
  }

  // The timeline of the recording: flash steps first (the clip's first frame is the first step's start,
  // as the gateway's flash check assumes), then one prompt per challenge action.
  function timeline(session) {
    const steps = [];
    let t = 0;
    for (const step of session.flash) {
      steps.push({ start: t, end: t + step.duration_ms, kind: "flash", step });
      t += step.duration_ms;
    }
    session.challenge.forEach((action, i) => {
      steps.push({ start: t, end: t + session.capture.prompt_ms, kind: "prompt", action, index: i });
      t += session.capture.prompt_ms;
    });
    if (!steps.length) steps.push({ start: 0, end: session.capture.prompt_ms, kind: "hold" });
    return { steps, total: Math.max(t, session.capture.prompt_ms) };
  }

  function show(entry, session) {
    if (entry.kind === "flash") {
      ui.flash.hidden = false;
      ui.flash.style.backgroundColor = entry.step.color;
      ui.flash.style.color = textColourOn(entry.step.rgb);
      // The overlay is aria-hidden; the live region under it announces the same words.
      ui.flashPrompt.textContent = FLASH_PROMPT;
      ui.prompt.textContent = FLASH_PROMPT;
    } else {
      ui.flash.hidden = true;
      ui.flashPrompt.textContent = "";
      const n = session.challenge.length;
      ui.prompt.textContent = entry.kind === "prompt"
        ? `${entry.index + 1} of ${n}: ${entry.action.prompt}` : "Look at the camera";
    }
  }

  // Record the whole timeline: a 20 ms tick updates the screen and grabs a frame when one is due.
  async function record(session) {
    const plan = timeline(session);
    const cap = session.capture;
    const interval = Math.max(cap.min_frame_interval_ms, Math.ceil(plan.total / (cap.max_frames - 1)));
    const scale = Math.min(1, cap.frame_width_px / ui.video.videoWidth);
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(ui.video.videoWidth * scale);
    canvas.height = Math.round(ui.video.videoHeight * scale);
    const ctx = canvas.getContext("2d");
    const pending = [];
    let shown = null;
    let nextFrame = 0;
    const t0 = performance.now();
    for (;;) {
      const t = performance.now() - t0;
      if (t >= plan.total || pending.length >= cap.max_frames) break;
      const entry = plan.steps.find((s) => t >= s.start && t < s.end) || plan.steps[plan.steps.length - 1];
      if (entry !== shown) { show(entry, session); shown = entry; }
      if (t >= nextFrame) {
        ctx.drawImage(ui.video, 0, 0, canvas.width, canvas.height);
        const timestamp = Math.round(t);
        pending.push(new Promise((resolve, reject) => canvas.toBlob(
          (blob) => (blob ? resolve({ blob, timestamp }) : reject(new Error("frame encoding failed"))),
          "image/jpeg", cap.jpeg_quality)));
        nextFrame += interval;
      }
      await sleep(20);
    }
    ui.flash.hidden = true;
    ui.prompt.textContent = "";
    return Promise.all(pending);
  }

  function base64Of(blob) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(String(reader.result).split(",", 2)[1]);
      reader.onerror = () => reject(reader.error);
      reader.readAsDataURL(blob);
    });
  }

  function statusClass(status) {
    if (status === "ok") return "status-ok";
    if (status === "not_applicable") return "status-other";
    return "status-bad";
  }

  function smallBar(score, label) {
    const bar = document.createElement("div");
    bar.className = "bar small";
    bar.setAttribute("role", "meter");
    bar.setAttribute("aria-valuemin", "0");
    bar.setAttribute("aria-valuemax", "100");
    bar.setAttribute("aria-valuenow", String(Math.round(score * 100)));
    bar.setAttribute("aria-label", label);
    const fill = document.createElement("div");
    fill.className = "fill";
    fill.style.width = `${Math.round(score * 100)}%`;
    bar.appendChild(fill);
    return bar;
  }

  function showResult(result) {
    const percent = Math.round(result.score * 100);
    ui.decision.textContent = result.decision;
    ui.decision.className = `decision ${result.decision}`;
    ui.result.dataset.decision = result.decision;
    ui.fill.style.width = `${percent}%`;
    ui.bar.setAttribute("aria-valuenow", String(percent));
    ui.bar.setAttribute("aria-valuetext", `${percent} percent live`);
    $("score-label").textContent = `Live score: ${percent}%` + (result.degraded ? " (some tests did not answer)" : "");
    ui.detail.textContent = result.detail || "";
    ui.tests.replaceChildren();
    for (const test of result.tests) {
      const row = document.createElement("tr");
      row.dataset.test = test.name;
      row.dataset.status = test.status;
      const name = document.createElement("th");
      name.scope = "row";
      name.textContent = test.name;
      const status = document.createElement("td");
      status.className = `status ${statusClass(test.status)}`;
      status.textContent = STATUS_TEXT[test.status] || test.status;
      if (test.detail) status.title = test.detail;
      const score = document.createElement("td");
      score.className = "score";
      if (test.status === "ok") {
        const pct = Math.round(test.score * 100);
        const text = document.createElement("span");
        text.textContent = `${pct}%`;
        text.setAttribute("aria-hidden", "true");
        const cell = document.createElement("div");
        cell.className = "score-cell";
        cell.append(smallBar(test.score, `${test.name} live score ${pct}%`), text);
        score.appendChild(cell);
      } else {
        score.textContent = "—";
      }
      row.append(name, status, score);
      ui.tests.appendChild(row);
    }
    ui.checks.replaceChildren();
    const items = [];
    if (result.session) {
      const s = result.session;
      if (s.challenge.length) {
        const actions = s.challenge.map((a) => `${a.prompt || a.action}: ${a.satisfied ? "seen" : "not seen"}`);
        items.push(`Challenge: ${s.challenge_satisfied ? "followed" : "not followed"} (${actions.join("; ")})`);
      } else {
        items.push("Challenge: no test could verify the actions");
      }
      if (s.flash.status === "ok") {
        items.push(`Flash colours: ${s.flash.satisfied ? "reflected" : "not reflected"} by the face`
          + ` (correlation ${s.flash.correlation.toFixed(2)})`);
      } else if (s.flash.status === "not_applicable") {
        items.push("Flash colours: none were shown");
      } else {
        items.push(`Flash colours: could not be checked (${STATUS_TEXT[s.flash.status] || s.flash.status})`);
      }
    } else {
      items.push("No session checks were run.");
    }
    for (const text of items) {
      const li = document.createElement("li");
      li.textContent = text;
      ui.checks.appendChild(li);
    }
    ui.result.hidden = false;
    say(`Result: ${result.decision}, live score ${percent}%.`);
    ui.heading.focus();
  }

  async function run() {
    ui.start.disabled = true;
    ui.again.disabled = true;
    ui.result.hidden = true;
    showError("");
    try {
      say("Opening the camera…");
      await openCamera();
      say("Preparing the check…");
      const session = await api("/api/session");
      $("action-count").textContent = String(session.challenge.length);
      say("Recording: follow the instructions on the screen.");
      const frames = await record(session);
      closeCamera();
      say(`Checking ${frames.length} frames…`);
      const payload = {
        session_id: session.session_id,
        nonce: session.nonce,
        frames: await Promise.all(frames.map(async (f) => ({
          jpeg: await base64Of(f.blob), timestamp_ms: f.timestamp,
        }))),
      };
      showResult(await api("/api/evaluate", payload));
    } catch (e) {
      ui.flash.hidden = true;
      ui.prompt.textContent = "";
      say("");
      showError(e.message || String(e));
      ui.start.focus();
    } finally {
      closeCamera();
      ui.start.disabled = false;
      ui.again.disabled = false;
    }
  }

  ui.motionNote.hidden = !reducedMotion;
  ui.start.addEventListener("click", run);
  ui.again.addEventListener("click", run);
})();
