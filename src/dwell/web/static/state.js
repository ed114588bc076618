// The filter state and the URL: the query string holds start, end, camera_id (repeated),
// person, tz, interval and attribute, so a view can be shared by its address.

import { addDays, isTimeZone, zonedMidnight } from "./format.js";

export const INTERVALS = ["hour", "day", "week"];
export const DEFAULT_TZ = "UTC";
export const DEFAULT_INTERVAL = "day";
const DAY = /^\d{4}-\d{2}-\d{2}$/;

const validDay = (text) => (text && DAY.test(text) && !Number.isNaN(Date.parse(`${text}T00:00:00Z`)) ? text : "");

export function emptyFilters() {
  return { start: "", end: "", cameras: [], person: "", tz: DEFAULT_TZ, interval: DEFAULT_INTERVAL, attribute: "" };
}

export function readUrl(search = window.location.search) {
  const q = new URLSearchParams(search);
  const tz = q.get("tz") || DEFAULT_TZ;
  const interval = q.get("interval");
  return {
    start: validDay(q.get("start")),
    end: validDay(q.get("end")),
    cameras: [...new Set(q.getAll("camera_id").map((c) => c.trim()).filter(Boolean))],
    person: (q.get("person") || "").trim(),
    tz: isTimeZone(tz) ? tz : DEFAULT_TZ,
    interval: INTERVALS.includes(interval) ? interval : DEFAULT_INTERVAL,
    attribute: (q.get("attribute") || "").trim(),
  };
}

/** The query string of a state: only what differs from the defaults. */
export function toSearch(state) {
  const q = new URLSearchParams();
  if (state.start) q.set("start", state.start);
  if (state.end) q.set("end", state.end);
  for (const camera of state.cameras) q.append("camera_id", camera);
  if (state.person) q.set("person", state.person);
  if (state.tz !== DEFAULT_TZ) q.set("tz", state.tz);
  if (state.interval !== DEFAULT_INTERVAL) q.set("interval", state.interval);
  if (state.attribute) q.set("attribute", state.attribute);
  const text = q.toString();
  return text ? `?${text}` : "";
}

/** The API's filters (SPEC §5) for a state: dates are whole days in `tz`, `end` included. */
export function apiFilters(state, { person = true } = {}) {
  const params = [];
  if (state.start) params.push(["start", zonedMidnight(state.start, state.tz)]);
  if (state.end) params.push(["end", zonedMidnight(addDays(state.end, 1), state.tz)]);
  for (const camera of state.cameras) params.push(["camera_id", camera]);
  if (person && state.person) params.push(["person_id", state.person]);
  params.push(["tz", state.tz]);
  return params;
}

export function hasFilters(state) {
  return Boolean(state.start || state.end || state.cameras.length || state.person);
}

export function sameFilters(a, b) {
  return toSearch(a) === toSearch(b);
}
