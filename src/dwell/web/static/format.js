// Numbers, durations, instants and time zones, in the reader's locale.

const DASH = "—";
const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const oneDecimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });

export const isNumber = (v) => typeof v === "number" && Number.isFinite(v);

export function fmtInt(value) {
  return isNumber(value) ? integer.format(value) : DASH;
}

export function fmtNumber(value, digits = 1) {
  if (!isNumber(value)) return DASH;
  return digits === 1 ? oneDecimal.format(value)
    : new Intl.NumberFormat(undefined, { maximumFractionDigits: digits }).format(value);
}

export function fmtPercent(fraction, digits = 1) {
  if (!isNumber(fraction)) return DASH;
  return new Intl.NumberFormat(undefined, {
    style: "percent", minimumFractionDigits: digits, maximumFractionDigits: digits,
  }).format(fraction);
}

/** Seconds as "12.5 s", "8 min 12 s", "1 h 5 min". */
export function fmtDuration(seconds) {
  if (!isNumber(seconds)) return DASH;
  if (seconds < 60) return `${oneDecimal.format(seconds)} s`;
  const total = Math.round(seconds);
  if (total < 3600) {
    const m = Math.floor(total / 60), s = total % 60;
    return s ? `${m} min ${s} s` : `${m} min`;
  }
  const h = Math.floor(total / 3600), m = Math.round((total % 3600) / 60);
  if (m === 60) return `${h + 1} h`;
  return m ? `${integer.format(h)} h ${m} min` : `${integer.format(h)} h`;
}

/** Seconds left as "about 12 s left" (null when unknown). */
export function fmtEta(seconds) {
  if (!isNumber(seconds)) return "estimating…";
  if (seconds <= 0) return "done";
  if (seconds < 1) return "under a second left";
  return `about ${fmtDuration(Math.ceil(seconds))} left`;
}

export function fmtBytes(bytes) {
  if (!isNumber(bytes)) return DASH;
  const units = ["bytes", "KB", "MB", "GB", "TB"];
  let value = bytes, unit = 0;
  while (value >= 1000 && unit < units.length - 1) { value /= 1000; unit++; }
  return unit === 0 ? `${integer.format(value)} bytes` : `${oneDecimal.format(value)} ${units[unit]}`;
}

const formatters = new Map();
function formatter(tz, options) {
  const key = tz + JSON.stringify(options);
  if (!formatters.has(key)) {
    formatters.set(key, new Intl.DateTimeFormat(undefined, { timeZone: tz, ...options }));
  }
  return formatters.get(key);
}

/** An ISO instant as local date and time in `tz` ("Mon, Mar 4, 2024, 09:15:02"). */
export function fmtDateTime(iso, tz, { seconds = true, weekday = true } = {}) {
  if (!iso) return DASH;
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  return formatter(tz, {
    weekday: weekday ? "short" : undefined, year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: seconds ? "2-digit" : undefined, hourCycle: "h23",
  }).format(date);
}

/** A bucket's start as a short label for its interval. */
export function fmtBucket(iso, interval, tz) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  if (interval === "hour") {
    return formatter(tz, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(date);
  }
  const day = formatter(tz, { weekday: "short", month: "short", day: "numeric" }).format(date);
  return interval === "week" ? `Week of ${day}` : day;
}

/** The zone's offset from UTC at instant `ms`, in milliseconds. */
function offsetMs(ms, tz) {
  const parts = formatter(tz, {
    year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric",
    second: "numeric", hourCycle: "h23",
  }).formatToParts(new Date(ms));
  const get = (type) => Number(parts.find((p) => p.type === type)?.value);
  const asUtc = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"), get("second"));
  return asUtc - Math.floor(ms / 1000) * 1000;
}

/** Midnight starting the calendar day `YYYY-MM-DD` in `tz`, as an ISO UTC instant. */
export function zonedMidnight(day, tz) {
  const [y, m, d] = day.split("-").map(Number);
  const wall = Date.UTC(y, m - 1, d);
  let guess = wall;
  for (let i = 0; i < 3; i++) guess = wall - offsetMs(guess, tz);
  return new Date(guess).toISOString().replace(".000Z", "Z");
}

/** `YYYY-MM-DD` plus `days`. */
export function addDays(day, days) {
  const [y, m, d] = day.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d + days)).toISOString().slice(0, 10);
}

/** The calendar day (`YYYY-MM-DD`) of an ISO instant in `tz`. */
export function dayIn(iso, tz) {
  const parts = formatter(tz, { year: "numeric", month: "2-digit", day: "2-digit" }).formatToParts(new Date(iso));
  const get = (type) => parts.find((p) => p.type === type)?.value;
  return `${get("year")}-${get("month")}-${get("day")}`;
}

/** IANA zones this browser knows, UTC first. */
export function timeZones() {
  let zones = [];
  try { zones = Intl.supportedValuesOf("timeZone"); } catch { zones = []; }
  return ["UTC", ...zones.filter((z) => z !== "UTC")];
}

export function browserTimeZone() {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch { return "UTC"; }
}

export function isTimeZone(name) {
  try { new Intl.DateTimeFormat(undefined, { timeZone: name }); return true; } catch { return false; }
}

export const ISSUE_TEXT = {
  malformed_row: "Wrong number of fields, or bytes that are not text",
  missing_value: "A required value is empty",
  id_too_long: "person_id over 100 or camera_id over 50 characters",
  invalid_timestamp: "The timestamp could not be read",
  timestamp_out_of_range: "Before the year 2000, or further ahead than the future tolerance",
  duplicate_event: "The same event twice (skipped)",
  unknown_event_type: "Event type is neither entry nor exit (kept as other)",
  ambiguous_dates: "Day and month order could not be told apart",
  orphan_exit: "An exit without an entry",
  missing_exit: "An entry without an exit",
};

export const REJECTING = new Set(["malformed_row", "missing_value", "id_too_long", "invalid_timestamp", "timestamp_out_of_range"]);
