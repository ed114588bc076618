// CSV export. A cell that starts with = + - @ (or a tab or carriage return) is prefixed with
// an apostrophe, so a spreadsheet shows it as text instead of running it as a formula.

const FORMULA_START = /^[=+\-@\t\r]/;

export function escapeFormula(text) {
  return FORMULA_START.test(text) ? `'${text}` : text;
}

export function csvField(value) {
  let text = value === null || value === undefined ? "" : String(value);
  text = escapeFormula(text);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** RFC 4180 text: a header row, then the rows, CRLF line ends. */
export function toCsv(header, rows) {
  return [header, ...rows].map((row) => row.map(csvField).join(",")).join("\r\n") + "\r\n";
}

/** Offer `text` as a file download (UTF-8 with a BOM, which spreadsheets need to read UTF-8). */
export function download(filename, text) {
  const blob = new Blob(["\ufeff", text], { type: "text/csv;charset=utf-8" });
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
