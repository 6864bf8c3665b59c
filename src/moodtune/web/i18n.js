// Every visible string comes from i18n/<lang>.json; the choice is remembered.
const KEY = "moodtune.lang";
export const LANGS = ["en", "ru"];
let strings = {};
let current = "en";

export function t(key, vars = {}) {
  const text = strings[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

export function lang() {
  return current;
}

export function preferredLang() {
  const saved = localStorage.getItem(KEY);
  if (LANGS.includes(saved)) return saved;
  return (navigator.language || "en").toLowerCase().startsWith("ru") ? "ru" : "en";
}

export async function setLang(code) {
  const response = await fetch(`/static/i18n/${code}.json`);
  strings = await response.json();
  current = code;
  localStorage.setItem(KEY, code);
  document.documentElement.lang = code;
  translate(document);
}

export function translate(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of el.dataset.i18nAttr.split(";")) {
      const [attr, key] = pair.split(":");
      el.setAttribute(attr, t(key));
    }
  }
}
