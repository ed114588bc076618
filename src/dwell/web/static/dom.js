// DOM helpers. Text from data only ever becomes text nodes or attribute values: no HTML
// strings are parsed anywhere in the page.

/**
 * Create an element: h("td", {class: "num", dataset: {value: 3}}, "text", childNode).
 * Props: class, dataset, on<Event> handlers (functions), hidden/disabled booleans,
 * anything else as an attribute (null and false leave it out).
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

/** Show or hide with the `hidden` attribute. */
export function showIf(el, visible) {
  el.hidden = !visible;
  return el;
}

/** Mark a region busy (screen readers wait, CSS shows skeletons). */
export function busy(el, isBusy) {
  el.setAttribute("aria-busy", isBusy ? "true" : "false");
  el.classList.toggle("is-loading", Boolean(isBusy));
}

/** A small table: columns [{label, className?}], rows of cell values or Nodes. */
export function simpleTable(columns, rows, { caption = null, className = "table" } = {}) {
  return h("table", { class: className },
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.className }, c.label)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, row.map((cell, i) => h("td", { class: columns[i]?.className }, cell))))));
}

/** A definition list from [term, description] pairs. */
export function facts(pairs, className = "facts") {
  return h("dl", { class: className },
    pairs.map(([term, description]) => h("div", {}, h("dt", {}, term), h("dd", {}, description))));
}
