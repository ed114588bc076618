// Upload view: drop or pick a CSV, follow its processing (fraction, phase, rows, time left),
// then read its quality report, or the one sentence saying why the file was rejected.

import { ApiError, getJson, sendUpload } from "./api.js";
import { $, facts, fill, h, showIf, simpleTable } from "./dom.js";
import {
  ISSUE_TEXT, REJECTING, fmtBytes, fmtDateTime, fmtEta, fmtInt, fmtPercent,
} from "./format.js";

const PHASES = {
  sending: "Sending the file", queued: "Waiting in the queue", reading: "Reading",
  checking: "Checking rows", pairing: "Pairing entries and exits", storing: "Storing",
  completed: "Completed", failed: "Failed",
};
const DELIMITERS = { ",": "comma (,)", ";": "semicolon (;)", "\t": "tab", "|": "pipe (|)" };
const FINAL = new Set(["completed", "failed"]);

/** A raw value from the file; an empty one says so instead of showing nothing. */
function rawValue(value) {
  if (value === null || value === undefined || value === "") return h("span", { class: "muted" }, "(empty)");
  return h("code", {}, value);
}

const delay = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

export function initUpload({ onCompleted, getTz, notify }) {
  const zone = $("#dropzone");
  const input = $("#file-input");
  const pick = $("#pick-file");
  const status = $("#upload-status");
  const bar = $("#upload-progress");
  const errorBox = $("#upload-error");
  const infoBox = $("#upload-info");
  const report = $("#quality");
  const queue = [];
  let running = false;

  pick.addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    enqueue(Array.from(input.files || []));
    input.value = "";
  });
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (event) => {
      event.preventDefault();
      if (event.dataTransfer) event.dataTransfer.dropEffect = "copy";
      zone.classList.add("is-over");
    });
  }
  for (const type of ["dragleave", "dragend"]) {
    zone.addEventListener(type, (event) => {
      if (!zone.contains(event.relatedTarget)) zone.classList.remove("is-over");
    });
  }
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("is-over");
    enqueue(Array.from(event.dataTransfer?.files || []));
  });
  // A file dropped beside the zone must not replace the page.
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());

  function enqueue(files) {
    queue.push(...files);
    const waiting = $("#upload-queue");
    waiting.textContent = queue.length && running ? `${queue.length} more file(s) waiting.` : "";
    if (!running) drain();
  }

  async function drain() {
    running = true;
    try {
      while (queue.length) {
        $("#upload-queue").textContent = queue.length > 1 ? `${queue.length - 1} more file(s) waiting.` : "";
        await processFile(queue.shift());
      }
    } finally {
      running = false;
      $("#upload-queue").textContent = "";
    }
  }

  function setProgress({ fraction, phase, rows = null, eta = null, name }) {
    const percent = Math.max(0, Math.min(100, Math.round(fraction * 100)));
    showIf(status, true);
    $("#upload-name").textContent = name;
    bar.setAttribute("aria-valuenow", String(percent));
    bar.setAttribute("aria-valuetext", `${percent}% — ${PHASES[phase] || phase}`);
    bar.dataset.phase = phase;
    bar.querySelector(".progress-fill").style.width = `${percent}%`;
    bar.classList.toggle("is-done", phase === "completed");
    bar.classList.toggle("is-failed", phase === "failed");
    $("#up-percent").textContent = `${percent}%`;
    $("#up-phase").textContent = PHASES[phase] || phase || "—";
    $("#up-rows").textContent = rows === null ? "—" : `${fmtInt(rows)} rows`;
    $("#up-eta").textContent = phase === "completed" ? "done" : phase === "failed" ? "—" : fmtEta(eta);
  }

  function showUpload(upload) {
    const phase = upload.status === "queued" ? "queued" : upload.status === "failed" ? "failed" : upload.phase || upload.status;
    setProgress({
      fraction: upload.status === "completed" ? 1 : upload.progress || 0, phase,
      rows: upload.rows_processed, eta: upload.eta_s, name: upload.filename,
    });
  }

  function showRejected(filename, message) {
    fill(errorBox,
      h("h2", {}, `${filename} was rejected`),
      h("p", { class: "reason", id: "reject-reason" }, message),
      h("p", { class: "muted" }, "Nothing of this file was stored. Fix it and upload it again."));
    showIf(errorBox, true);
  }

  async function processFile(file) {
    showIf(errorBox, false);
    showIf(infoBox, false);
    showIf(report, false);
    setProgress({ fraction: 0, phase: "sending", name: file.name });
    let sent;
    try {
      sent = await sendUpload(file, (fraction) => setProgress({ fraction, phase: "sending", name: file.name }));
    } catch (exc) {
      setProgress({ fraction: 0, phase: "failed", name: file.name });
      showRejected(file.name, exc instanceof ApiError ? exc.message : String(exc));
      return;
    }
    let upload = sent.upload;
    if (upload.duplicate_of) {
      fill(infoBox, h("p", {}, `This file was uploaded before with the same options (upload ${upload.duplicate_of}, `
        + `${upload.filename}); nothing was loaded again. Its report is below.`));
      showIf(infoBox, true);
    }
    upload = await follow(upload);
    if (!upload) return;
    if (upload.status === "completed") {
      renderQuality(upload);
      onCompleted(upload);
    } else {
      showRejected(upload.filename, upload.error?.message || "The file could not be processed.");
    }
    refreshRecent();
  }

  async function follow(first) {
    let upload = first;
    let wait = 120;
    let failures = 0;
    for (;;) {
      showUpload(upload);
      if (FINAL.has(upload.status)) return upload;
      await delay(wait);
      wait = Math.min(wait * 1.4, 1000);
      try {
        upload = await getJson(`/api/v1/uploads/${upload.id}`);
        failures = 0;
      } catch (exc) {
        failures += 1;
        if (failures > 20 || (exc instanceof ApiError && exc.status && exc.status !== 503)) {
          showRejected(upload.filename, `Following the upload failed: ${exc.message}`);
          return null;
        }
      }
    }
  }

  function renderQuality(upload) {
    const q = upload.quality || {};
    const tz = getTz();
    const issues = Object.entries(q.issues || {}).sort((a, b) => b[1] - a[1]);
    const samples = Object.entries(q.samples || {}).filter(([, list]) => list && list.length);
    const missing = Object.entries(q.missing_values || {}).filter(([, n]) => n > 0);
    const detected = q.detected || {};
    const score = q.quality_score;
    const tone = score === null || score === undefined ? "" : score >= 0.99 ? "good" : score >= 0.9 ? "fair" : "poor";
    const range = q.time_range || [];

    fill(report,
      h("div", { class: "section-head" },
        h("h2", { id: "quality-title" }, `Quality report — ${upload.filename}`),
        h("p", { class: "muted" }, `Upload ${upload.id}, finished ${fmtDateTime(upload.finished_at, tz, { seconds: false })}`)),
      h("div", { class: "quality-top" },
        h("div", { class: `score ${tone}`, id: "quality-score", dataset: { value: String(score ?? "") } },
          h("span", { class: "score-value" }, fmtPercent(score)),
          h("span", { class: "score-label" }, "quality score"),
          h("span", { class: "muted small" }, "valid rows ÷ rows")),
        facts([
          ["Rows", fmtInt(q.total_rows)], ["Valid", fmtInt(q.valid_rows)],
          ["Rejected", fmtInt(q.rejected_rows)], ["Duplicates skipped", fmtInt(q.duplicate_events)],
          ["Size", fmtBytes(upload.size_bytes)],
        ], "facts quality-counts")),
      h("div", { class: "quality-grid" },
        h("section", { class: "panel", "aria-labelledby": "issues-title" },
          h("h3", { id: "issues-title" }, "Issues"),
          issues.length
            ? simpleTable(
              [{ label: "Issue", className: "shrink" }, { label: "Rows", className: "num shrink" }, { label: "Meaning" }],
              issues.map(([name, count]) => [
                h("span", { class: `tag ${REJECTING.has(name) ? "tag-error" : "tag-warn"}` }, name),
                fmtInt(count), ISSUE_TEXT[name] || ""]),
              { className: "table compact issues" })
            : h("p", { class: "empty-inline" }, "No issues: every row was read."),
          missing.length ? h("div", {},
            h("h4", {}, "Missing values per column"),
            simpleTable([{ label: "Column" }, { label: "Missing", className: "num" }],
              missing.map(([column, n]) => [column, fmtInt(n)]), { className: "table compact" })) : null),
        h("section", { class: "panel", "aria-labelledby": "detected-title" },
          h("h3", { id: "detected-title" }, "Detected"),
          facts([
            ["Delimiter", DELIMITERS[detected.delimiter] || detected.delimiter || "—"],
            ["Encoding", `${detected.encoding || "—"}${detected.compressed ? ", gzip" : ""}`],
            ["Timestamp layouts", (detected.timestamp_layouts || []).length
              ? h("ul", { class: "plain" }, detected.timestamp_layouts.map((layout) => h("li", {}, h("code", {}, layout))))
              : "—"],
            ["Attribute columns", (detected.attributes || []).join(", ") || "none"],
            ["First event", fmtDateTime(range[0], tz)],
            ["Last event", fmtDateTime(range[1], tz)],
          ], "facts detected"))),
      h("section", { class: "panel", "aria-labelledby": "samples-title" },
        h("h3", { id: "samples-title" }, "Sample lines"),
        samples.length
          ? samples.map(([name, list], index) => h("details", { class: "samples", open: index === 0 },
            h("summary", {}, `${name} — ${fmtInt(q.issues?.[name] ?? list.length)} row(s), first ${list.length} shown`),
            simpleTable(
              [{ label: "Line", className: "num shrink" }, { label: "Column", className: "shrink" }, { label: "Raw value" }, { label: "Note" }],
              list.map((s) => [String(s.line), s.column || "—", rawValue(s.value), s.reason ?? ""]),
              { className: "table compact" })))
          : h("p", { class: "empty-inline" }, "No samples: nothing to show."),
        (q.rejected_rows || 0) > 0 ? rejectedRows(upload.id) : null));
    showIf(report, true);
  }

  function rejectedRows(uploadId) {
    const box = h("div", { class: "rejected" });
    let cursor = null;
    const body = h("tbody");
    const more = h("button", { type: "button", class: "button ghost" }, "Show rejected rows");
    more.addEventListener("click", async () => {
      more.disabled = true;
      try {
        const page = await getJson(`/api/v1/uploads/${uploadId}/rejected-rows`, [["limit", 50], ["cursor", cursor]]);
        if (!body.isConnected) {
          box.prepend(h("table", { class: "table compact" },
            h("caption", {}, "Rejected rows, as they were in the file"),
            h("thead", {}, h("tr", {}, ["Line", "Reason", "Column", "Raw line"].map((c, i) => h("th", { scope: "col", class: i < 3 ? "shrink" : null }, c)))),
            body));
        }
        for (const row of page.items) {
          body.append(h("tr", {}, h("td", { class: "num shrink" }, String(row.line)), h("td", { class: "shrink" }, row.reason),
            h("td", { class: "shrink" }, row.column || "—"), h("td", {}, h("code", {}, row.raw))));
        }
        cursor = page.next_cursor;
        more.textContent = "Show more rejected rows";
        more.hidden = !cursor;
      } catch (exc) {
        notify(exc.message);
      } finally {
        more.disabled = false;
      }
    });
    box.append(more);
    return box;
  }

  async function refreshRecent() {
    const target = $("#recent-body");
    try {
      const page = await getJson("/api/v1/uploads", [["limit", 10]]);
      showIf($("#recent-empty"), page.items.length === 0);
      showIf($("#recent-table"), page.items.length > 0);
      const tz = getTz();
      fill(target, page.items.map((u) => h("tr", {},
        h("td", { class: "num" }, String(u.id)),
        h("td", {}, u.filename),
        h("td", {}, h("span", { class: `tag tag-${u.status}` }, u.status)),
        h("td", { class: "num" }, fmtInt(u.quality?.total_rows ?? u.rows_processed)),
        h("td", { class: "num" }, fmtPercent(u.quality?.quality_score)),
        h("td", {}, fmtDateTime(u.created_at, tz, { seconds: false })),
        h("td", {}, FINAL.has(u.status)
          ? h("button", { type: "button", class: "link", onclick: () => openUpload(u.id) }, u.status === "failed" ? "Why" : "Report")
          : "…"))));
    } catch (exc) {
      fill(target);
      showIf($("#recent-empty"), true).textContent = `Uploads could not be listed: ${exc.message}`;
    }
  }

  async function openUpload(id) {
    try {
      const upload = await getJson(`/api/v1/uploads/${id}`);
      showIf(infoBox, false);
      showIf(errorBox, false);
      showIf(report, false);
      showUpload(upload);
      if (upload.status === "completed") renderQuality(upload);
      else if (upload.status === "failed") showRejected(upload.filename, upload.error?.message || "The file could not be processed.");
      (upload.status === "completed" ? report : status).scrollIntoView({ block: "start" });
    } catch (exc) {
      notify(exc.message);
    }
  }

  return { refreshRecent };
}
