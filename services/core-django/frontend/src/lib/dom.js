// Small DOM helpers: elements are built with textContent only (no HTML from data, ever).
export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function pageData() {
  return JSON.parse(document.getElementById("page-data").textContent);
}

export function debounce(fn, ms) {
  let timer = null;
  const run = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  run.now = (...args) => {
    clearTimeout(timer);
    return fn(...args);
  };
  return run;
}

// Briefly highlight an element that changed (also announced by the nearest live region).
export function flash(el, kind = "changed") {
  el.classList.remove("flash-new", "flash-changed");
  void el.offsetWidth; // restart the animation
  el.classList.add(`flash-${kind}`);
}

export function setStatus(el, text, kind = "") {
  if (!el) return;
  el.textContent = text;
  el.dataset.kind = kind;
}
