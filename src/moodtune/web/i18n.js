// Every visible string comes from i18n/<lang>.json; the choice is remembered.
// The server renders its reasons from the same tables (moodtune/i18n.py): keep the two in step.
const KEY = "moodtune.lang";
export const LANGS = ["en", "ru"];
let strings = {};
let current = "en";

function format(value) {
  return typeof value === "number" ? new Intl.NumberFormat(current).format(value) : String(value ?? "");
}

// A variable whose value is itself a key ("emotion_sad") is rendered in this language too.
function fill(template, vars, depth) {
  return template.replace(/\{(\w+)\}/g, (_, name) => {
    const value = vars[name];
    if (typeof value === "string" && value in strings && depth < 3) return fill(strings[value], vars, depth + 1);
    return format(value);
  });
}

export function t(key, vars = {}) {
  return fill(strings[key] ?? key, vars, 0);
}

export function hasKey(key) {
  return key in strings;
}

// Plural forms by the language's own rules: key_one, key_few, key_many, key_other.
export function tn(key, count, vars = {}) {
  const form = new Intl.PluralRules(current).select(count);
  const chosen = hasKey(`${key}_${form}`) ? `${key}_${form}` : `${key}_other`;
  return t(chosen, { count, ...vars });
}

// A reason from the API ({code, params, text}) in the page's language.
export function renderReason(reason) {
  const key = `reason_${reason.code}`;
  if (!hasKey(key)) return reason.text;
  const text = t(key, reason.params);
  return text.charAt(0).toUpperCase() + text.slice(1);
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
