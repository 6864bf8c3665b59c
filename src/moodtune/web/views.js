// Drawing the result: face boxes, probability bars, the valence/arousal map, the playlist.
import { renderReason, t } from "./i18n.js";
import { setIcon } from "./icons.js";

const SVG = "http://www.w3.org/2000/svg";
export const EMOTIONS = ["happy", "surprise", "neutral", "sad", "fear", "angry", "disgust"];

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    // The page's CSP refuses style attributes; properties set through the CSSOM are allowed.
    if (key === "style") Object.assign(node.style, value);
    else node.setAttribute(key, value);
  }
  if (text) node.textContent = text;
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

export function drawBoxes(container, photo) {
  container.replaceChildren();
  photo.faces.forEach((face, i) => {
    const [x, y, w, h] = face.box;
    const box = el("div", {
      class: "box",
      style: {
        left: `${(100 * x) / photo.width}%`,
        top: `${(100 * y) / photo.height}%`,
        width: `${(100 * w) / photo.width}%`,
        height: `${(100 * h) / photo.height}%`,
      },
    });
    box.append(el("span", {}, `${i + 1}. ${t("emotion_" + face.dominant)}`));
    container.append(box);
  });
}

export function drawBars(container, faces) {
  container.replaceChildren();
  faces.forEach((face, i) => {
    const group = el("div", { class: "face-bars", role: "group", "aria-label": t("face_n", { n: i + 1 }) });
    group.append(el("h3", {}, t("face_n", { n: i + 1 })));
    for (const name of EMOTIONS) {
      const share = face.emotions[name];
      const row = el("div", { class: "bar-row" });
      row.append(el("span", { class: "bar-label" }, t("emotion_" + name)));
      const meter = el("div", {
        class: "bar",
        role: "meter",
        "aria-valuemin": "0",
        "aria-valuemax": "100",
        "aria-valuenow": String(Math.round(100 * share)),
        "aria-label": t("emotion_" + name),
      });
      meter.append(el("div", { class: `fill ${name === face.dominant ? "dominant" : ""}`, style: { width: `${100 * share}%` } }));
      row.append(meter, el("span", { class: "bar-value" }, `${Math.round(100 * share)}%`));
      group.append(row);
    }
    container.append(group);
  });
}

// The map's one coordinate space: the API's circumplex, valence and arousal in -1..1, drawn at
// 100 SVG units per unit, arousal up. Every mark on the map goes through these two functions.
const point = (valence, arousal) => [valence * 100, -arousal * 100];
const clamp = (x) => Math.round(Math.min(1, Math.max(-1, x)) * 100) / 100;
export const mapPoint = (x, y) => [clamp(x / 100), clamp(-y / 100)];

export function drawCircumplex(root, result) {
  root.replaceChildren();
  root.append(svg("circle", { cx: 0, cy: 0, r: 100, class: "map-ring" }));
  root.append(svg("line", { x1: -100, y1: 0, x2: 100, y2: 0, class: "map-axis" }));
  root.append(svg("line", { x1: 0, y1: -100, x2: 0, y2: 100, class: "map-axis" }));
  const labels = [["map_excited", 0, -90], ["map_calm", 0, 97], ["map_negative", -74, 14], ["map_positive", 74, 14]];
  for (const [key, x, y] of labels) {
    const text = svg("text", { x, y, class: "map-label", "text-anchor": "middle" });
    text.textContent = t(key);
    root.append(text);
  }
  for (const track of result.tracks) {
    const heard = track.heard_mood;
    if (!heard) continue;
    const [x, y] = point(heard.valence, heard.arousal);
    const dot = svg("circle", { cx: x, cy: y, r: 3.2, class: "map-track" });
    const title = svg("title");
    title.textContent = `${track.position}. ${track.title}`;
    dot.append(title);
    root.append(dot);
  }
  const path = result.target.path || [];
  if (path.length > 1) {
    root.append(svg("polyline", { points: path.map(([v, a]) => point(v, a).join(",")).join(" "), class: "map-path" }));
  }
  const [tx, ty] = point(result.target.valence, result.target.arousal);
  root.append(svg("rect", { x: tx - 5, y: ty - 5, width: 10, height: 10, class: "map-target" }));
  const [mx, my] = point(result.mood.valence, result.mood.arousal);
  root.append(svg("circle", { cx: mx, cy: my, r: 6, class: "map-mood" }));
  root.setAttribute("aria-label", t("map_label_full", {
    mood: t(result.mood.feeling ? "feeling_" + result.mood.feeling : "emotion_" + result.mood.dominant),
    strategy: t("strategy_" + result.target.strategy),
  }));
}

export function moodMessage(result, fromPhoto) {
  // Seed 004 answered each mood with a sentence (surprise: "a song to calm you down").
  const goal = result.target.strategy === "journey" ? `journey_${result.target.goal}` : result.target.strategy;
  const word = result.mood.feeling ? `feeling_${result.mood.feeling}` : `emotion_${result.mood.dominant}`;
  const mood = fromPhoto ? t("mood_" + result.mood.dominant) : t("mood_chosen", { mood: word });
  return `${mood} ${t("plan_" + goal)}`;
}

export function drawPlaylist(list, tracks, handlers) {
  list.replaceChildren();
  tracks.forEach((track, i) => {
    const item = el("li", { class: "track", "data-track-id": String(track.id) });
    const cover = el("img", { src: track.cover_url, alt: t("cover_of", { title: track.title }), loading: "lazy", width: "56", height: "56" });
    const info = el("div", { class: "track-info" });
    info.append(el("div", { class: "track-title" }, track.title));
    const meta = [track.artists.join(", "), track.genres.slice(0, 2).join(", ")].filter(Boolean).join(" · ");
    info.append(el("div", { class: "muted" }, meta));
    const reasons = el("ul", { class: "reasons" });
    for (const reason of track.reasons) reasons.append(el("li", {}, renderReason(reason)));
    info.append(reasons);
    const actions = el("div", { class: "track-actions" });
    const play = el("button", { type: "button", class: "play-track", "aria-label": t("play_track", { title: track.title }) });
    setIcon(play, "play");
    play.addEventListener("click", () => handlers.play(i));
    const like = el("button", { type: "button", class: "like", "aria-pressed": "false", "aria-label": t("like_track", { title: track.title }) });
    setIcon(like, "like");
    like.addEventListener("click", () => handlers.feedback(track, "like", like));
    const dislike = el("button", { type: "button", class: "dislike", "aria-pressed": "false", "aria-label": t("dislike_track", { title: track.title }) });
    setIcon(dislike, "dislike");
    dislike.addEventListener("click", () => handlers.feedback(track, "dislike", dislike));
    actions.append(play, like, dislike);
    if (!track.audio_url && track.spotify_url) {
      actions.append(el("a", { href: track.spotify_url, target: "_blank", rel: "noopener", class: "spotify-link" }, t("open_spotify")));
    }
    item.append(cover, info, actions);
    list.append(item);
  });
}

export function markPlaying(list, index) {
  list.querySelectorAll(".track").forEach((node, i) => {
    node.classList.toggle("playing", i === index);
    if (i === index) node.setAttribute("aria-current", "true");
    else node.removeAttribute("aria-current");
  });
}

// A drop zone: a file from the picker, a drop, or Enter/Space on the zone opens the picker.
export function wireDropZone(zone, input, onFile) {
  input.addEventListener("change", (e) => {
    const [file] = e.target.files;
    if (file) onFile(file);
    e.target.value = "";
  });
  zone.addEventListener("keydown", (e) => {
    if ((e.key === "Enter" || e.key === " ") && e.target === zone) {
      e.preventDefault();
      input.click();
    }
  });
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    const [file] = e.dataTransfer.files;
    if (file) onFile(file);
  });
}
