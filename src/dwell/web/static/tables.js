// Sessions and events tables: pages from the API (in time order), sorting within the page,
// CSV export of the table as shown, and a person's timeline in a dialog.

import { getJson } from "./api.js";
import { $, $$, busy, facts, fill, h, showIf } from "./dom.js";
import { toCsv, download } from "./csv.js";
import { fmtDateTime, fmtDuration, fmtInt } from "./format.js";

const COLUMNS = {
  sessions: [
    { key: "entry", label: "Entry", type: "time" },
    { key: "exit", label: "Exit", type: "time" },
    { key: "person_id", label: "Person", type: "person" },
    { key: "camera_id", label: "Camera" },
    { key: "status", label: "Status", type: "status" },
    { key: "dwell_s", label: "Dwell", type: "duration" },
  ],
  events: [
    { key: "ts", label: "Time", type: "time" },
    { key: "person_id", label: "Person", type: "person" },
    { key: "camera_id", label: "Camera" },
    { key: "event_type", label: "Type", type: "status" },
    { key: "raw_event_type", label: "As in the file" },
    { key: "dwell_s", label: "Session dwell", type: "duration" },
    { key: "upload_id", label: "Upload", type: "int" },
    { key: "line", label: "Line", type: "int" },
  ],
};
const NOUN = { sessions: "sessions", events: "events" };

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

const missing = (v) => v === null || v === undefined || v === "";

/** Order of two cell values; `sign` 1 ascending, -1 descending. Empty cells always come last. */
function compare(a, b, sign) {
  if (missing(a) || missing(b)) return missing(a) === missing(b) ? 0 : missing(a) ? 1 : -1;
  if (typeof a === "number" && typeof b === "number") return sign * (a - b);
  return sign * collator.compare(String(a), String(b));
}

export function initTables({ getState, setPerson, notify }) {
  const table = $("#data-table");
  const wrap = $("#table-wrap");
  const status = $("#table-status");
  const state = { kind: "sessions", cursors: [null], page: 0, next: null, rows: [], columns: [], sort: null, token: 0, loaded: "" };

  // --- tabs: click, or arrow keys between them -------------------------------------------
  const tabs = $$("[role=tab]", $("#table-tabs"));
  for (const tab of tabs) {
    tab.addEventListener("click", () => selectTab(tab.dataset.kind));
    tab.addEventListener("keydown", (event) => {
      const index = tabs.indexOf(tab);
      const move = { ArrowRight: 1, ArrowLeft: -1, Home: -index, End: tabs.length - 1 - index }[event.key];
      if (move === undefined) return;
      event.preventDefault();
      const target = tabs[(index + move + tabs.length) % tabs.length];
      target.focus();
      selectTab(target.dataset.kind);
    });
  }

  function selectTab(kind) {
    if (kind === state.kind && state.loaded) return;
    for (const tab of tabs) {
      const selected = tab.dataset.kind === kind;
      tab.setAttribute("aria-selected", String(selected));
      tab.tabIndex = selected ? 0 : -1;
    }
    $("#table-panel").setAttribute("aria-labelledby", `tab-${kind}`);
    state.kind = kind;
    state.sort = null;
    reset();
  }

  $("#page-prev").addEventListener("click", () => {
    if (state.page > 0) { state.page -= 1; load(); }
  });
  $("#page-next").addEventListener("click", () => {
    if (state.next) {
      state.cursors[state.page + 1] = state.next;
      state.page += 1;
      load();
    }
  });
  $("#page-size").addEventListener("change", () => reset());
  $("#export-csv").addEventListener("click", exportCsv);

  function reset() {
    state.cursors = [null];
    state.page = 0;
    load();
  }

  async function load() {
    const token = ++state.token;
    const filters = getState().api;
    const limit = Number($("#page-size").value) || 50;
    busy(wrap, true);
    $("#table-panel").dataset.state = "loading";
    delete $("#table-panel").dataset.loadedFor;
    if (!state.rows.length) skeleton();
    status.textContent = "Loading…";
    showIf(status, true);
    status.className = "table-status";
    $("#page-prev").disabled = true;
    $("#page-next").disabled = true;
    $("#export-csv").disabled = true;
    try {
      const page = await getJson(`/api/v1/${state.kind}`, [...filters, ["limit", limit], ["cursor", state.cursors[state.page]]]);
      if (token !== state.token) return;
      state.rows = page.items;
      state.next = page.next_cursor;
      state.loaded = getState().search + state.kind;
      render();
    } catch (exc) {
      if (token !== state.token) return;
      state.rows = [];
      state.next = null;
      render();
      status.textContent = `The ${NOUN[state.kind]} could not be loaded: ${exc.message}`;
      status.className = "table-status error-text";
      showIf(status, true);
    } finally {
      if (token === state.token) {
        busy(wrap, false);
        const panel = $("#table-panel");
        panel.dataset.loadedFor = `${state.kind}|${state.page + 1}|${getState().search}`;
        panel.dataset.state = "ready";
      }
    }
  }

  function skeleton() {
    const columns = COLUMNS[state.kind];
    fill(table.tHead, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c.label))));
    fill(table.tBodies[0], Array.from({ length: 6 }, () => h("tr", { class: "skeleton-row" },
      columns.map(() => h("td", {}, h("span", { class: "skeleton-bar" }))))));
  }

  function attributeColumns(rows) {
    const names = new Set();
    for (const row of rows) for (const name of Object.keys(row.attributes || {})) names.add(name);
    return [...names].sort().map((name) => ({
      key: `attribute:${name}`, label: name, attribute: name, get: (row) => row.attributes?.[name] ?? null,
    }));
  }

  const valueOf = (column, row) => (column.get ? column.get(row) : row[column.key]);

  function sortedRows() {
    const rows = state.rows.slice();
    if (!state.sort) return rows;
    const column = state.columns.find((c) => c.key === state.sort.key);
    if (!column) return rows;
    const sign = state.sort.dir === "ascending" ? 1 : -1;
    return rows.sort((a, b) => compare(valueOf(column, a), valueOf(column, b), sign));
  }

  function cell(column, row) {
    const value = valueOf(column, row);
    const tz = getState().filters.tz;
    switch (column.type) {
      case "time": return h("td", { class: "nowrap" }, value ? h("time", { datetime: value }, fmtDateTime(value, tz)) : "—");
      case "duration": return h("td", { class: "num" }, fmtDuration(value));
      case "int": return h("td", { class: "num" }, fmtInt(value));
      case "status": return h("td", {}, h("span", { class: `tag tag-${value}` }, value));
      case "person": return h("td", {}, h("button", {
        type: "button", class: "link person-link", "aria-haspopup": "dialog",
        title: `Open the timeline of ${value}`, onclick: () => openPerson(value),
      }, value));
      default: return h("td", {}, value === null || value === undefined ? "—" : value);
    }
  }

  function header() {
    return h("tr", {}, state.columns.map((column) => {
      const sorted = state.sort && state.sort.key === column.key ? state.sort.dir : null;
      const numeric = ["duration", "int"].includes(column.type);
      return h("th", { scope: "col", "aria-sort": sorted, class: numeric ? "num" : null },
        h("button", {
          type: "button", class: "sort", dataset: { key: column.key },
          onclick: () => toggleSort(column.key),
        }, column.label, h("span", { class: "sort-mark", "aria-hidden": "true" },
          sorted === "ascending" ? "▲" : sorted === "descending" ? "▼" : "↕")));
    }));
  }

  function toggleSort(key) {
    const current = state.sort && state.sort.key === key ? state.sort.dir : null;
    state.sort = current === null ? { key, dir: "ascending" }
      : current === "ascending" ? { key, dir: "descending" } : null;
    render();
    const button = $(`button.sort[data-key="${CSS.escape(key)}"]`, table);
    if (button) button.focus();
  }

  function render() {
    state.columns = [...COLUMNS[state.kind], ...attributeColumns(state.rows)];
    const rows = sortedRows();
    const first = state.page * (Number($("#page-size").value) || 50);
    table.querySelector("caption").textContent = `${state.kind === "sessions" ? "Sessions" : "Events"}, page ${state.page + 1}`;
    fill(table.tHead, header());
    fill(table.tBodies[0], rows.map((row) => h("tr", { dataset: { id: String(row.id) } }, state.columns.map((c) => cell(c, row)))));
    table.dataset.rows = String(rows.length);
    $("#page-label").textContent = rows.length
      ? `Page ${state.page + 1} · rows ${fmtInt(first + 1)}–${fmtInt(first + rows.length)}`
      : `Page ${state.page + 1}`;
    $("#page-prev").disabled = state.page === 0;
    $("#page-next").disabled = !state.next;
    $("#export-csv").disabled = rows.length === 0;
    const sortNote = state.sort
      ? `Sorted by ${state.columns.find((c) => c.key === state.sort.key)?.label} (${state.sort.dir}) within this page.`
      : "In time order.";
    $("#table-note").textContent = `${sortNote} Column headings sort the rows of this page; pages follow time order.`;
    if (!rows.length) {
      const filtered = getState().active;
      status.textContent = filtered
        ? `No ${NOUN[state.kind]} match these filters.`
        : `No ${NOUN[state.kind]} yet — upload a CSV.`;
      status.className = "table-status empty-inline";
      showIf(status, true);
    } else {
      showIf(status, false);
    }
  }

  function exportCsv() {
    const rows = sortedRows();
    const header = state.columns.map((c) => (c.attribute ? c.attribute : c.key));
    const body = rows.map((row) => state.columns.map((c) => valueOf(c, row)));
    const stamp = new Date().toISOString().slice(0, 16).replace(/[:T]/g, "-");
    download(`dwell-${state.kind}-page-${state.page + 1}-${stamp}.csv`, toCsv(header, body));
  }

  // --- a person's timeline ------------------------------------------------------------------
  const dialog = $("#person-dialog");
  $("#person-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("click", (event) => { if (event.target === dialog) dialog.close(); });
  let current = null;
  $("#person-filter").addEventListener("click", () => {
    dialog.close();
    if (current) setPerson(current);
  });

  async function openPerson(personId) {
    current = personId;
    const { filters, api } = getState();
    const params = api.filter(([name]) => name !== "person_id");
    $("#person-title").textContent = `Person ${personId}`;
    const body = $("#person-body");
    fill(body, h("p", { class: "muted" }, "Loading…"));
    busy(body, true);
    if (!dialog.open) dialog.showModal();
    try {
      const timeline = await getJson(`/api/v1/persons/${encodeURIComponent(personId)}`, [...params, ["limit", 50]]);
      if (current !== personId) return;
      renderPerson(body, timeline, params, filters.tz);
    } catch (exc) {
      fill(body, h("p", { class: "error-text" }, `The timeline of ${personId} could not be loaded: ${exc.message}`));
    } finally {
      busy(body, false);
    }
  }

  function renderPerson(body, timeline, params, tz) {
    const s = timeline.summary;
    const sessionsBody = h("tbody");
    const eventsBody = h("tbody");
    const addSessions = (items) => sessionsBody.append(...items.map((x) => h("tr", {},
      h("td", { class: "nowrap" }, fmtDateTime(x.entry, tz)), h("td", { class: "nowrap" }, fmtDateTime(x.exit, tz)),
      h("td", {}, x.camera_id), h("td", {}, h("span", { class: `tag tag-${x.status}` }, x.status)),
      h("td", { class: "num" }, fmtDuration(x.dwell_s)))));
    const addEvents = (items) => eventsBody.append(...items.map((x) => h("tr", {},
      h("td", { class: "nowrap" }, fmtDateTime(x.ts, tz)), h("td", {}, x.camera_id),
      h("td", {}, h("span", { class: `tag tag-${x.event_type}` }, x.event_type)), h("td", {}, x.raw_event_type),
      h("td", { class: "num" }, fmtDuration(x.dwell_s)))));
    addSessions(timeline.sessions.items);
    addEvents(timeline.events.items);

    const more = (label, cursorName, first, add, pick) => {
      let cursor = first;
      const button = h("button", { type: "button", class: "button ghost", hidden: !cursor }, label);
      button.addEventListener("click", async () => {
        button.disabled = true;
        try {
          const next = await getJson(`/api/v1/persons/${encodeURIComponent(timeline.person_id)}`,
            [...params, ["limit", 50], [cursorName, cursor]]);
          add(pick(next).items);
          cursor = pick(next).next_cursor;
          button.hidden = !cursor;
        } catch (exc) {
          notify(exc.message);
        } finally {
          button.disabled = false;
        }
      });
      return button;
    };

    fill(body,
      facts([
        ["First seen", fmtDateTime(s.first_seen, tz)], ["Last seen", fmtDateTime(s.last_seen, tz)],
        ["Events", fmtInt(s.events)], ["Visits (days)", fmtInt(s.visits)],
        ["Cameras", s.cameras.join(", ") || "—"], ["Complete sessions", fmtInt(s.complete_sessions)],
        ["Total dwell", fmtDuration(s.total_dwell_s)], ["Average dwell", fmtDuration(s.avg_dwell_s)],
      ], "facts person-facts"),
      h("h3", {}, "Sessions"),
      h("div", { class: "table-scroll" }, h("table", { class: "table compact" },
        h("thead", {}, h("tr", {}, ["Entry", "Exit", "Camera", "Status", "Dwell"].map((c, i) => h("th", { scope: "col", class: i === 4 ? "num" : null }, c)))),
        sessionsBody)),
      more("More sessions", "sessions_cursor", timeline.sessions.next_cursor, addSessions, (t) => t.sessions),
      h("h3", {}, "Timeline of events"),
      h("div", { class: "table-scroll" }, h("table", { class: "table compact" },
        h("thead", {}, h("tr", {}, ["Time", "Camera", "Type", "As in the file", "Session dwell"].map((c, i) => h("th", { scope: "col", class: i === 4 ? "num" : null }, c)))),
        eventsBody)),
      more("More events", "events_cursor", timeline.events.next_cursor, addEvents, (t) => t.events));
  }

  return {
    /** Reload from page 1 (filters changed). */
    refresh() { state.rows = []; reset(); },
    /** Load once the view is shown, when the filters changed since the last load. */
    ensure() {
      if (state.loaded !== getState().search + state.kind) { state.rows = []; reset(); }
    },
    invalidate() {
      state.loaded = "";
      delete $("#table-panel").dataset.loadedFor;
    },
    selectTab,
  };
}
