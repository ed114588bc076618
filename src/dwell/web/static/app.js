// The dashboard: views, filters (mirrored in the address), the API key, and the three views.

import { ApiError, allowKeyPrompt, getAll, getKey, onKeyNeeded, setKey } from "./api.js";
import { $, $$, fill, h, showIf } from "./dom.js";
import { browserTimeZone, dayIn, fmtDateTime, timeZones } from "./format.js";
import { initOverview } from "./overview.js";
import { apiFilters, emptyFilters, hasFilters, readUrl, toSearch } from "./state.js";
import { initTables } from "./tables.js";
import { initUpload } from "./upload.js";

const VIEWS = ["overview", "upload", "tables"];
const TITLES = { overview: "Overview", upload: "Upload", tables: "Sessions and events" };

let filters = readUrl();
const meta = { cameras: [], attributes: [] };

function getState() {
  return { filters, api: apiFilters(filters), search: toSearch(filters), active: hasFilters(filters) };
}

// --- notices ----------------------------------------------------------------------------

function notify(message, { askKey = false } = {}) {
  $("#notice-text").textContent = message;
  showIf($("#notice-key"), askKey);
  showIf($("#notice"), true);
}
$("#notice-close").addEventListener("click", () => showIf($("#notice"), false));
$("#notice-key").addEventListener("click", () => openKeyDialog());

function report(exc) {
  if (exc && exc.name === "AbortError") return;
  const needsKey = exc instanceof ApiError && exc.status === 401;
  notify(exc && exc.message ? exc.message : String(exc), { askKey: needsKey });
}

// --- the API key ------------------------------------------------------------------------

const keyDialog = $("#key-dialog");
$("#key-forget").addEventListener("click", () => keyDialog.close("forget"));
$("#key-cancel").addEventListener("click", () => keyDialog.close("cancel"));

function keyDialogAnswer(message, { manage = false } = {}) {
  $("#key-message").textContent = message;
  $("#key-input").value = "";
  showIf($("#key-forget"), manage && Boolean(getKey()));
  if (!keyDialog.open) keyDialog.showModal();
  $("#key-input").focus();
  return new Promise((resolve) => {
    keyDialog.addEventListener("close", () => {
      resolve({ action: keyDialog.returnValue, key: $("#key-input").value.trim() });
      keyDialog.returnValue = "";
    }, { once: true });
  });
}

onKeyNeeded(async (message) => {
  const answer = await keyDialogAnswer(`This server needs an API key. ${message}`);
  return answer.action === "ok" && answer.key ? answer.key : null;
});

async function openKeyDialog() {
  allowKeyPrompt();
  const answer = await keyDialogAnswer(getKey()
    ? "A key is set for this tab. Enter another one to replace it."
    : "Enter an API key if this server asks for one (dwell keys create --role viewer).", { manage: true });
  if (answer.action === "forget") setKey("");
  else if (answer.action === "ok" && answer.key) setKey(answer.key);
  else return;
  showIf($("#notice"), false);
  refreshAll({ meta: true });
}
$("#key-button").addEventListener("click", () => openKeyDialog());

// --- filters ----------------------------------------------------------------------------

function buildTimeZones() {
  const select = $("#f-tz");
  const local = browserTimeZone();
  const zones = timeZones();
  if (!zones.includes(filters.tz)) zones.push(filters.tz);
  fill(select,
    h("option", { value: "UTC" }, "UTC"),
    local !== "UTC" ? h("option", { value: local }, `${local} (this computer)`) : null,
    h("optgroup", { label: "All time zones" }, zones.filter((z) => z !== "UTC").map((z) => h("option", { value: z }, z))));
}

function cameraSummary() {
  const n = filters.cameras.length;
  return n === 0 ? "All cameras" : n === 1 ? filters.cameras[0] : `${n} cameras`;
}

function buildCameraOptions() {
  const box = $("#camera-options");
  const ids = [...new Set([...meta.cameras.map((c) => c.camera_id), ...filters.cameras])].sort(
    new Intl.Collator(undefined, { numeric: true }).compare);
  if (!ids.length) {
    fill(box, h("p", { class: "muted small" }, "No cameras yet."));
    return;
  }
  const byId = new Map(meta.cameras.map((c) => [c.camera_id, c]));
  fill(box, ids.map((id) => h("label", { class: "check" },
    h("input", { type: "checkbox", value: id, name: "camera_id", checked: filters.cameras.includes(id) }),
    h("span", {}, id),
    byId.has(id) ? h("span", { class: "muted small" }, `${byId.get(id).events.toLocaleString()} events`) : null)));
}

function syncControls() {
  $("#f-start").value = filters.start;
  $("#f-end").value = filters.end;
  $("#f-person").value = filters.person;
  if (![...$("#f-tz").options].some((o) => o.value === filters.tz)) buildTimeZones();
  $("#f-tz").value = filters.tz;
  for (const box of $$("#camera-options input[type=checkbox]")) box.checked = filters.cameras.includes(box.value);
  $("#camera-summary").textContent = cameraSummary();
  const bounds = dataBounds();
  for (const input of [$("#f-start"), $("#f-end")]) {
    input.min = bounds ? bounds[0] : "";
    input.max = bounds ? bounds[1] : "";
  }
  $("#filter-summary").textContent = describe();
  overview.syncControls();
}

function dataBounds() {
  if (!meta.cameras.length) return null;
  const first = meta.cameras.map((c) => c.first_seen).sort()[0];
  const last = meta.cameras.map((c) => c.last_seen).sort().at(-1);
  return [dayIn(first, filters.tz), dayIn(last, filters.tz)];
}

function describe() {
  const parts = [];
  if (filters.start || filters.end) parts.push(`${filters.start || "the start"} to ${filters.end || "the end"}`);
  else parts.push("all dates");
  parts.push(filters.cameras.length ? cameraSummary() : "all cameras");
  if (filters.person) parts.push(`person ${filters.person}`);
  parts.push(`times in ${filters.tz}`);
  return `Showing ${parts.join(" · ")}.`;
}

/** Change the filters: the address, the controls and every card, chart and table follow. */
function update(patch) {
  const next = { ...filters, ...patch };
  if (next.start && next.end && next.end < next.start) {
    fill(showIf($("#filter-error"), true), "The end date is before the start date; pick a later end date.");
    return;
  }
  showIf($("#filter-error"), false);
  if (toSearch(next) === toSearch(filters)) return;
  filters = next;
  window.history.pushState(null, "", `${window.location.pathname}${toSearch(filters)}${window.location.hash}`);
  syncControls();
  refreshAll();
}

$("#filter-form").addEventListener("submit", (event) => event.preventDefault());
$("#f-start").addEventListener("change", (event) => update({ start: event.target.value }));
$("#f-end").addEventListener("change", (event) => update({ end: event.target.value }));
$("#f-tz").addEventListener("change", (event) => update({ tz: event.target.value }));
$("#camera-options").addEventListener("change", () => {
  update({ cameras: $$("#camera-options input[type=checkbox]").filter((b) => b.checked).map((b) => b.value) });
});
$("#cameras-all").addEventListener("click", () => update({ cameras: [] }));
$("#camera-picker").addEventListener("keydown", (event) => {
  if (event.key === "Escape" && $("#camera-picker").open) {
    $("#camera-picker").open = false;
    $("#camera-picker summary").focus();
  }
});
document.addEventListener("click", (event) => {
  const picker = $("#camera-picker");
  if (picker.open && !picker.contains(event.target)) picker.open = false;
});
let personTimer = null;
const person = $("#f-person");
person.addEventListener("input", () => {
  clearTimeout(personTimer);
  personTimer = setTimeout(() => update({ person: person.value.trim() }), 600);
});
person.addEventListener("change", () => { clearTimeout(personTimer); update({ person: person.value.trim() }); });
person.addEventListener("keydown", (event) => {
  if (event.key === "Enter") { clearTimeout(personTimer); update({ person: person.value.trim() }); }
});
$("#f-clear").addEventListener("click", () => {
  const blank = emptyFilters();
  update({ start: blank.start, end: blank.end, cameras: blank.cameras, person: blank.person });
});
window.addEventListener("popstate", () => {
  filters = readUrl();
  syncControls();
  refreshAll();
});

// --- views ------------------------------------------------------------------------------

function currentView() {
  const name = window.location.hash.slice(1);
  return VIEWS.includes(name) ? name : "overview";
}

/** Show the view named by the address's #fragment; `load` fetches what it needs. */
function showView({ focus = false, load = true } = {}) {
  const view = currentView();
  for (const section of $$("[data-view]")) section.hidden = section.dataset.view !== view;
  for (const link of $$("[data-view-link]")) {
    if (link.dataset.viewLink === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  showIf($("#filters"), view !== "upload");
  document.title = `${TITLES[view]} — dwell`;
  document.body.dataset.view = view;
  if (focus) $(`#h-${view}`).focus();
  if (!load) return;
  if (view === "overview") overview.ensure();
  if (view === "tables") tables.ensure();
  if (view === "upload") upload.refreshRecent();
}
window.addEventListener("hashchange", () => showView({ focus: true }));

function refreshAll({ meta: withMeta = false } = {}) {
  overview.invalidate();
  tables.invalidate();
  if (withMeta) loadMeta();
  else showView();
}

/** Cameras (for the picker and the date bounds) and attribute columns (for demographics). */
async function loadMeta() {
  try {
    const [cameras, uploads] = await Promise.all([
      getAll("/api/v1/cameras", [], { max: 2000 }),
      getAll("/api/v1/uploads", [["status", "completed"]], { max: 1000 }),
    ]);
    meta.cameras = cameras;
    const attributes = new Set();
    for (const u of uploads) for (const name of u.quality?.detected?.attributes || []) attributes.add(name);
    meta.attributes = [...attributes].sort();
  } catch (exc) {
    report(exc);
  }
  buildCameraOptions();
  syncControls();
  showView();
}

// --- start ------------------------------------------------------------------------------

const overview = initOverview({
  getState,
  getAttributes: () => meta.attributes,
  onInterval: (interval) => update({ interval }),
  onAttribute: (attribute) => update({ attribute }),
});
const tables = initTables({
  getState,
  setPerson: (id) => { update({ person: id }); },
  notify: (message) => notify(message),
});
const upload = initUpload({
  getTz: () => filters.tz,
  notify: (message) => notify(message),
  onCompleted: (done) => {
    const open = h("a", { class: "button primary", href: "#overview" }, "See the overview");
    const quality = $("#quality");
    quality.prepend(h("div", { class: "done-banner", role: "status" },
      h("span", {}, `${done.filename} is loaded (${fmtDateTime(done.finished_at, filters.tz, { seconds: false })}).`), open));
    refreshAll({ meta: true });
  },
});

buildTimeZones();
syncControls();
showView({ load: false });
loadMeta();
document.body.dataset.ready = "true";
