// Chart cards: an ECharts canvas, a loading / empty / error state, and the same numbers as
// a table (for screen readers, keyboard users and anyone who wants the exact values).

import { busy, fill, h } from "./dom.js";
import { fmtBucket, fmtDuration, fmtInt, fmtNumber, isNumber } from "./format.js";

const PALETTE = ["#2f6bd8", "#12877c", "#c46a12", "#7c4dce", "#5b6b80", "#b4365a"];

const LABELS = {
  unique_visitors: "Unique visitors", events: "Events", entries: "Entries", exits: "Exits",
  peak_occupancy: "Peak occupancy", mean_occupancy: "Mean occupancy", sessions: "Sessions",
  complete_sessions: "Complete sessions", avg_dwell_s: "Average dwell", median_dwell_s: "Median dwell",
  persons: "Persons",
};
const DURATIONS = new Set(["avg_dwell_s", "median_dwell_s"]);

const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => (
  { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

const reducedMotion = () => window.matchMedia("(prefers-reduced-motion: reduce)").matches;

function formatValue(key, value) {
  if (DURATIONS.has(key)) return fmtDuration(value);
  if (key === "mean_occupancy") return fmtNumber(value, 2);
  return fmtInt(value);
}

/** Axis tooltips; every text from data is escaped before ECharts puts it in the page. */
function tooltip(keys) {
  return {
    trigger: "axis",
    confine: true,
    axisPointer: { type: "shadow" },
    formatter(params) {
      const list = Array.isArray(params) ? params : [params];
      if (!list.length) return "";
      const head = escapeHtml(list[0].axisValueLabel ?? list[0].name ?? "");
      const lines = list.map((p) => {
        const key = keys[p.seriesIndex];
        const raw = DURATIONS.has(key) && isNumber(p.value) ? p.value * 60 : p.value;
        return `${p.marker}${escapeHtml(p.seriesName)}: <strong>${escapeHtml(formatValue(key, raw))}</strong>`;
      });
      return [head, ...lines].join("<br>");
    },
  };
}

function baseOption(labels, keys, { rotate = 0, secondAxis = null, every = false } = {}) {
  const font = getComputedStyle(document.body).fontFamily;
  // Chart text follows the page's type scale, so a wall screen gets larger labels too.
  const rem = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
  const axisText = { color: "#4a5567", fontFamily: font, fontSize: Math.round(rem * 0.78) };
  const option = {
    color: PALETTE,
    animation: !reducedMotion(),
    animationDuration: 300,
    textStyle: { fontFamily: font, fontSize: axisText.fontSize },
    grid: { left: 12, right: 12, top: 44, bottom: labels.length > 60 ? 44 : 12, containLabel: true },
    legend: { top: 4, left: 0, textStyle: axisText, icon: "roundRect", itemWidth: Math.round(rem * 0.8), itemHeight: Math.round(rem * 0.55) },
    tooltip: tooltip(keys),
    xAxis: {
      type: "category", data: labels, axisLabel: every ? { ...axisText, rotate, interval: 0 } : { ...axisText, rotate, hideOverlap: true },
      axisTick: { alignWithLabel: true }, axisLine: { lineStyle: { color: "#c3cad6" } },
    },
    yAxis: [{
      type: "value", minInterval: 1, axisLabel: axisText,
      splitLine: { lineStyle: { color: "#e6e9ef" } },
    }],
  };
  if (secondAxis) {
    option.yAxis.push({
      type: "value", name: secondAxis, nameTextStyle: axisText, position: "right",
      axisLabel: { ...axisText, formatter: "{value} min" }, splitLine: { show: false },
    });
  }
  if (labels.length > 60) {
    option.dataZoom = [{ type: "inside" }, { type: "slider", height: 16, bottom: 6, brushSelect: false }];
  }
  return option;
}

function seriesData(chart, key) {
  return (chart.series.find((s) => s.name === key) || { data: [] }).data;
}

const minutes = (values) => values.map((v) => (isNumber(v) ? Math.round((v / 60) * 100) / 100 : null));

/**
 * Build {option, columns, rows} for one chart document of the API
 * ({name, title, labels, series: [{name, data}]}). `ctx` = {interval, tz}.
 */
export function buildChart(chart, ctx) {
  const { interval, tz } = ctx;
  switch (chart.name) {
    case "visitors": {
      const keys = ["unique_visitors", "events"];
      const labels = chart.labels.map((l) => fmtBucket(l, interval, tz));
      const option = baseOption(labels, keys);
      option.series = [
        { name: LABELS.unique_visitors, type: "bar", data: seriesData(chart, "unique_visitors"), barMaxWidth: 28 },
        { name: LABELS.events, type: "line", data: seriesData(chart, "events"), symbol: "none", smooth: false },
      ];
      return { option, ...table(chart, labels, keys) };
    }
    case "occupancy": {
      const keys = ["peak_occupancy", "mean_occupancy"];
      const labels = chart.labels.map((l) => fmtBucket(l, interval, tz));
      const option = baseOption(labels, keys);
      option.yAxis[0].minInterval = null;
      option.series = [
        { name: LABELS.peak_occupancy, type: "line", step: "start", data: seriesData(chart, "peak_occupancy"), symbol: "none" },
        { name: LABELS.mean_occupancy, type: "line", data: seriesData(chart, "mean_occupancy"), symbol: "none", areaStyle: { opacity: 0.15 } },
      ];
      return { option, ...table(chart, labels, keys) };
    }
    case "dwell-histogram": {
      const keys = ["sessions"];
      const option = baseOption(chart.labels, keys, { every: true });
      option.legend.show = false;
      option.series = [{ name: "Complete sessions", type: "bar", data: seriesData(chart, "sessions"), barMaxWidth: 48 }];
      return { option, ...table(chart, chart.labels, keys, "Dwell time") };
    }
    case "per-camera": {
      const keys = ["events", "unique_visitors", "avg_dwell_s"];
      const option = baseOption(chart.labels, keys, {
        secondAxis: "avg dwell", every: chart.labels.length <= 24, rotate: chart.labels.length > 8 ? 30 : 0,
      });
      option.series = [
        { name: LABELS.events, type: "bar", data: seriesData(chart, "events"), barMaxWidth: 32 },
        { name: LABELS.unique_visitors, type: "bar", data: seriesData(chart, "unique_visitors"), barMaxWidth: 32 },
        { name: LABELS.avg_dwell_s, type: "line", yAxisIndex: 1, data: minutes(seriesData(chart, "avg_dwell_s")), symbolSize: 8 },
      ];
      return { option, ...table(chart, chart.labels, keys, "Camera") };
    }
    case "repeat": {
      const keys = ["persons"];
      const labels = chart.labels.map((l) => `${l} ${l === "1" ? "visit" : "visits"}`);
      const option = baseOption(labels, keys, { every: labels.length <= 12 });
      option.legend.show = false;
      option.series = [{ name: LABELS.persons, type: "bar", data: seriesData(chart, "persons"), barMaxWidth: 48 }];
      return { option, ...table(chart, labels, keys, "Visits") };
    }
    case "demographics": {
      const keys = ["unique_visitors", "sessions", "avg_dwell_s"];
      const labels = chart.labels.map((l) => (l === null || l === undefined ? "(not given)" : String(l)));
      const option = baseOption(labels, keys, {
        secondAxis: "avg dwell", every: labels.length <= 24, rotate: labels.length > 8 ? 30 : 0,
      });
      option.series = [
        { name: LABELS.unique_visitors, type: "bar", data: seriesData(chart, "unique_visitors"), barMaxWidth: 32 },
        { name: LABELS.sessions, type: "bar", data: seriesData(chart, "sessions"), barMaxWidth: 32 },
        { name: LABELS.avg_dwell_s, type: "line", yAxisIndex: 1, data: minutes(seriesData(chart, "avg_dwell_s")), symbolSize: 8 },
      ];
      return { option, ...table(chart, labels, keys, chart.attribute || "Group") };
    }
    default:
      throw new Error(`unknown chart ${chart.name}`);
  }
}

function table(chart, labels, keys, first = "Time") {
  const columns = [first, ...keys.map((k) => LABELS[k] || k)];
  const rows = labels.map((label, i) => [
    { text: label, value: chart.labels[i] },
    ...keys.map((k) => {
      const value = seriesData(chart, k)[i];
      return { text: formatValue(k, value), value };
    }),
  ]);
  return { columns, rows, keys };
}

export function isEmptyChart(chart) {
  const total = chart.series.reduce((sum, s) => sum + s.data.reduce((a, v) => a + (isNumber(v) ? v : 0), 0), 0);
  return chart.labels.length === 0 || total === 0;
}

/** One chart card in the page: <figure data-chart> with .chart, .chart-status, .chart-table. */
export class ChartCard {
  constructor(figure) {
    this.figure = figure;
    this.name = figure.dataset.chart;
    this.canvas = figure.querySelector(".chart");
    this.status = figure.querySelector(".chart-status");
    this.tableBox = figure.querySelector(".chart-table");
    this.chart = null;
    this.version = 0;
    if (window.ResizeObserver) {
      new ResizeObserver(() => { if (this.chart) this.chart.resize(); }).observe(this.canvas);
    }
  }

  setState(state, message = "") {
    this.figure.dataset.state = state;
    busy(this.figure, state === "loading");
    this.status.textContent = message;
    this.status.hidden = state === "ready";
    this.canvas.classList.toggle("is-hidden", state === "empty" || state === "error");
  }

  loading() { this.setState("loading", "Loading…"); }

  empty(message) {
    this.setState("empty", message);
    fill(this.tableBox);
  }

  error(message) {
    this.setState("error", message);
    fill(this.tableBox);
  }

  show(built, title) {
    if (!window.echarts) {
      this.error("The chart library did not load; the numbers are in the table below.");
    } else {
      if (!this.chart) this.chart = window.echarts.init(this.canvas, null, { renderer: "canvas" });
      this.chart.setOption(built.option, true);
      this.setState("ready");
    }
    this.version += 1;
    this.figure.dataset.version = String(this.version);
    this.canvas.setAttribute("aria-label", `${title}: chart; the same numbers are in the table below.`);
    fill(this.tableBox, h("table", { class: "table compact" },
      h("caption", { class: "sr-only" }, title),
      h("thead", {}, h("tr", {}, built.columns.map((c, i) => h("th", { scope: "col", class: i ? "num" : null }, c)))),
      h("tbody", {}, built.rows.map((row) => h("tr", {},
        row.map((cell, i) => h(i ? "td" : "th", {
          scope: i ? null : "row", class: i ? "num" : null,
          dataset: { value: cell.value === null || cell.value === undefined ? "" : String(cell.value) },
        }, cell.text)))))));
  }
}
