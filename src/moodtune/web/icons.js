// Inline SVG icons: symbol fonts are not installed everywhere (emoji render as empty boxes).
const PATHS = {
  play: "M8 5v14l11-7z",
  pause: "M6 5h4v14H6zM14 5h4v14h-4z",
  prev: "M6 5h2v14H6zM20 5v14L9 12z",
  next: "M16 5h2v14h-2zM4 5v14l11-7z",
  like: "M2 10h4v11H2zM8 21h9.5a2 2 0 0 0 2-1.6l1.4-7A2 2 0 0 0 19 10h-5.5l.9-4.3a1.6 1.6 0 0 0-2.8-1.4L8 9.5z",
  dislike: "M2 3h4v11H2zM8 3h9.5a2 2 0 0 1 2 1.6l1.4 7A2 2 0 0 1 19 14h-5.5l.9 4.3a1.6 1.6 0 0 1-2.8 1.4L8 14.5z",
  theme: "M12 3a9 9 0 1 0 0 18V3z",
};

export function icon(name) {
  return `<svg class="icon" viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false"><path d="${PATHS[name]}" fill="currentColor"/><circle cx="12" cy="12" r="9" fill="none" stroke="currentColor" stroke-width="${name === "theme" ? 2 : 0}"/></svg>`;
}

export function setIcon(button, name) {
  button.innerHTML = icon(name);
}
