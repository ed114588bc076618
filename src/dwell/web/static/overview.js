// Overview: KPI cards and charts, all under the current filters.

import { getJson } from "./api.js";
import { ChartCard, buildChart, isEmptyChart } from "./charts.js";
import { $, $$, busy, fill, h, showIf } from "./dom.js";
import { fmtDateTime, fmtDuration, fmtInt, fmtPercent } from "./format.js";

const INTERVAL_WORD = { hour: "hour", day: "day", week: "week" };

/** The cards: where the value comes from, how it reads, and the line under it. */
const KPIS = {
  unique_visitors: { value: (k) => k.unique_visitors, format: fmtInt, sub: () => "distinct persons" },
  total_events: { value: (k) => k.total_events, format: fmtInt, sub: (k) => `${fmtInt(k.orphan_exits)} orphan exits` },
  active_cameras: { value: (k) => k.active_cameras, format: fmtInt, sub: () => "with events" },
  avg_dwell_s: { value: (k) => k.avg_dwell_s, format: fmtDuration, sub: (k) => `p90 ${fmtDuration(k.p90_dwell_s)}` },
  median_dwell_s: { value: (k) => k.median_dwell_s, format: fmtDuration, sub: (k) => `shortest ${fmtDuration(k.min_dwell_s)}` },
  max_dwell_s: { value: (k) => k.max_dwell_s, format: fmtDuration, sub: () => "longest complete session" },
  avg_dwell_per_person_s: { value: (k) => k.avg_dwell_per_person_s, format: fmtDuration, sub: () => "all of a person's dwell" },
  peak_occupancy: {
    value: (k) => k.peak_occupancy, format: fmtInt,
    sub: (k, r, tz) => (k.peak_occupancy_at ? `at ${fmtDateTime(k.peak_occupancy_at, tz, { seconds: false })}` : "nobody present"),
  },
  repeat_rate: {
    value: (k, r) => r.repeat_rate, format: (v) => fmtPercent(v),
    sub: (k, r) => `${fmtInt(r.repeat_visitors)} of ${fmtInt(r.unique_visitors)} came back`,
  },
  sessions: {
    value: (k) => k.sessions.complete, format: fmtInt,
    sub: (k) => `${fmtInt(k.sessions.missing_exit)} missing exit · ${fmtInt(k.sessions.open)} open`,
  },
};

const CHART_NAMES = ["visitors", "occupancy", "dwell-histogram", "per-camera", "repeat", "demographics"];

export function initOverview({ getState, getAttributes, onInterval, onAttribute }) {
  const grid = $("#kpis");
  const cards = new Map($$("[data-kpi]", grid).map((el) => [el.dataset.kpi, el]));
  const charts = new Map($$("figure[data-chart]").map((el) => [el.dataset.chart, new ChartCard(el)]));
  let token = 0;
  let loaded = null;

  for (const button of $$("[data-interval]")) {
    button.addEventListener("click", () => onInterval(button.dataset.interval));
  }
  $("#attribute-select").addEventListener("change", (event) => onAttribute(event.target.value));

  function syncControls() {
    const { filters } = getState();
    for (const button of $$("[data-interval]")) {
      button.setAttribute("aria-pressed", String(button.dataset.interval === filters.interval));
    }
    const word = INTERVAL_WORD[filters.interval];
    $("#title-visitors").textContent = `Visitors and events per ${word}`;
    $("#title-occupancy").textContent = `Occupancy per ${word}`;
    const select = $("#attribute-select");
    const attributes = getAttributes();
    fill(select, attributes.map((name) => h("option", { value: name }, name)));
    select.disabled = attributes.length === 0;
    if (attributes.includes(filters.attribute)) select.value = filters.attribute;
  }

  function setCard(name, raw, text, sub) {
    const card = cards.get(name);
    if (!card) return;
    card.dataset.value = raw === null || raw === undefined ? "" : String(raw);
    $(".kpi-value", card).textContent = text;
    $(".kpi-sub", card).textContent = sub;
  }

  async function loadKpis(api, tz, my) {
    busy(grid, true);
    try {
      const [kpis, repeat] = await Promise.all([
        getJson("/api/v1/analytics/kpis", api),
        getJson("/api/v1/analytics/repeat-visitors", api),
      ]);
      if (my !== token) return null;
      for (const [name, spec] of Object.entries(KPIS)) {
        const raw = spec.value(kpis, repeat);
        setCard(name, raw, spec.format(raw), spec.sub(kpis, repeat, tz));
      }
      cards.get("peak_occupancy").dataset.at = kpis.peak_occupancy_at || "";
      showIf($("#kpi-error"), false);
      return kpis;
    } catch (exc) {
      if (my !== token) return null;
      for (const name of cards.keys()) setCard(name, null, "—", "");
      fill(showIf($("#kpi-error"), true), `The key figures could not be loaded: ${exc.message}`);
      return null;
    } finally {
      if (my === token) busy(grid, false);
    }
  }

  async function loadChart(name, api, filters, my) {
    const card = charts.get(name);
    card.loading();
    const params = [...api, ["interval", filters.interval]];
    if (name === "demographics") {
      const attributes = getAttributes();
      if (!attributes.length) {
        card.empty("No attribute columns (such as age_group or gender) in the uploads yet.");
        return;
      }
      const chosen = attributes.includes(filters.attribute) ? filters.attribute : attributes[0];
      $("#attribute-select").value = chosen;
      params.push(["attribute", chosen]);
    }
    try {
      const chart = await getJson(`/api/v1/analytics/charts/${name}`, params);
      if (my !== token) return;
      if (isEmptyChart(chart)) {
        card.empty(getState().active ? "Nothing matches these filters." : "No data yet — upload a CSV.");
        card.version += 1;
        card.figure.dataset.version = String(card.version);
        return;
      }
      const built = buildChart(chart, { interval: filters.interval, tz: filters.tz });
      card.show(built, $("h2", card.figure).textContent);
    } catch (exc) {
      if (my === token) card.error(`This chart could not be loaded: ${exc.message}`);
    }
  }

  async function load() {
    const my = ++token;
    const { filters, api, search, active } = getState();
    loaded = search;
    syncControls();
    const content = $("#overview-content");
    content.dataset.state = "loading";
    delete content.dataset.loadedFor;
    const kpiLoad = loadKpis(api, filters.tz, my);
    const chartLoads = CHART_NAMES.map((name) => loadChart(name, api, filters, my));
    const kpis = await kpiLoad;
    if (my !== token) return;
    const nothingYet = kpis !== null && kpis.total_events === 0 && !active;
    showIf($("#overview-empty"), nothingYet);
    content.classList.toggle("is-empty", nothingYet);
    await Promise.all(chartLoads);
    if (my === token) {
      content.dataset.loadedFor = search;
      content.dataset.state = "ready";
    }
  }

  return {
    load,
    ensure() { if (loaded !== getState().search) load(); },
    invalidate() {
      loaded = null;
      delete $("#overview-content").dataset.loadedFor;
    },
    syncControls,
  };
}
