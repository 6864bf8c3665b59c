// moodtune's page: photo or webcam in, mood and playlist out, a player at the bottom.
import { api } from "./api.js";
import { hasKey, lang, preferredLang, setLang, t, tn } from "./i18n.js";
import { setIcon } from "./icons.js";
import { Player } from "./player.js";
import { drawBars, drawBoxes, drawCircumplex, drawPlaylist, markPlaying, moodMessage } from "./views.js";

const $ = (id) => document.getElementById(id);
const THEME_KEY = "moodtune.theme";
const MAX_BYTES = 10 * 1024 * 1024;
const TYPES = ["image/jpeg", "image/png", "image/webp"];

const state = { photo: null, photoUrl: null, emotions: null, result: null, busy: false };
const player = new Player({ onChange: (i) => markPlaying($("playlist"), i) });

// ---- messages -------------------------------------------------------------
function toast(message, { kind = "info", retry = null } = {}) {
  const box = document.createElement("div");
  box.className = `toast ${kind}`;
  box.setAttribute("role", kind === "error" ? "alert" : "status");
  box.append(document.createTextNode(message));
  if (retry) {
    const again = document.createElement("button");
    again.type = "button";
    again.textContent = t("retry");
    again.addEventListener("click", () => { box.remove(); retry(); });
    box.append(again);
  }
  const close = document.createElement("button");
  close.type = "button";
  close.className = "ghost";
  close.textContent = "×";
  close.setAttribute("aria-label", t("dismiss"));
  close.addEventListener("click", () => box.remove());
  box.append(close);
  $("toasts").append(box);
  if (!retry) setTimeout(() => box.remove(), 8000);
}

function explain(error, retry) {
  // Every server code has its sentence in i18n/<lang>.json (a test checks it).
  const key = `error_${error.code}`;
  toast(hasKey(key) ? t(key, { message: error.message }) : t("error_generic", { message: error.message }), {
    kind: "error",
    retry: error.code === "network" || error.status >= 500 ? retry : null,
  });
}

// ---- theme and language ---------------------------------------------------
function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  $("theme-toggle").setAttribute("aria-pressed", String(theme === "dark"));
}

function initialTheme() {
  const saved = localStorage.getItem(THEME_KEY);
  if (saved === "light" || saved === "dark") return saved;
  return matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

$("theme-toggle").addEventListener("click", () => {
  const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
  localStorage.setItem(THEME_KEY, next);
  applyTheme(next);
});

$("lang-toggle").addEventListener("click", async () => {
  await setLang(lang() === "en" ? "ru" : "en");
  $("lang-toggle").textContent = lang() === "en" ? "RU" : "EN";
  player.relabel();
  showTasteNote();
  if (state.result) render(state.result);
});

// ---- parameters -----------------------------------------------------------
function params() {
  const form = $("params");
  const genres = [...$("genres").selectedOptions].map((o) => o.value);
  return {
    strategy: form.elements.strategy.value,
    n: Math.min(50, Math.max(1, Number($("length").value) || 10)),
    genres,
    popularity: $("popularity").value,
    explicit: $("explicit").checked,
    playable_only: $("playable").checked,
    personalization: $("personalization").value,
  };
}

$("genres").addEventListener("change", () => {
  const chosen = [...$("genres").selectedOptions];
  if (chosen.length > 3) {
    chosen.at(-1).selected = false;
    toast(t("genres_max"));
  }
});

let tasteAsked = 0;

function showTasteNote() {
  const taste = state.taste;
  if (!taste) {
    $("taste-note").textContent = "";
    return;
  }
  const styles = [...taste.top_genres, ...taste.top_styles].slice(0, 3).join(", ") || "—";
  $("taste-note").textContent = taste.liked ? tn("taste_known", taste.liked, { styles }) : t("taste_empty");
}

async function showTaste() {
  const mine = ++tasteAsked; // likes in quick succession: only the newest answer is shown
  try {
    const taste = await api.taste();
    if (mine !== tasteAsked) return;
    state.taste = taste;
  } catch {
    state.taste = null;
  }
  showTasteNote();
}

async function loadGenres() {
  try {
    const genres = await api.genres();
    for (const g of genres.slice(0, 60)) {
      const option = document.createElement("option");
      option.value = g.name;
      option.textContent = `${g.name} (${g.tracks})`;
      $("genres").append(option);
    }
  } catch (error) {
    explain(error, loadGenres);
  }
}

// ---- photo in, playlist out -------------------------------------------------
function setBusy(busy) {
  state.busy = busy;
  document.body.classList.toggle("busy", busy);
  $("new-list").disabled = busy || !state.emotions;
  $("dropzone").setAttribute("aria-busy", String(busy));
  $("busy").hidden = !busy;
}

async function analysePhoto(file) {
  if (!TYPES.includes(file.type)) return toast(t("error_unsupported_media_type"), { kind: "error" });
  if (file.size > MAX_BYTES) return toast(t("error_photo_too_large"), { kind: "error" });
  player.stop(); // a new photo stops the music (seed 000)
  state.photo = file;
  setBusy(true);
  try {
    const result = await api.moodPlaylist(file, params());
    if (state.photoUrl) URL.revokeObjectURL(state.photoUrl);
    state.photoUrl = URL.createObjectURL(file);
    state.emotions = result.mood.emotions;
    show(result);
  } catch (error) {
    explain(error, () => analysePhoto(file));
  } finally {
    setBusy(false);
  }
}

async function newList(event) {
  event.preventDefault();
  if (!state.emotions) return;
  setBusy(true);
  try {
    const result = await api.recommend({ emotions: state.emotions, ...params() });
    result.photo = state.result.photo;
    player.stop();
    show(result);
  } catch (error) {
    explain(error, () => newList(event));
  } finally {
    setBusy(false);
  }
}

function show(result) {
  state.result = result;
  state.savedId = null;
  $("export-m3u").hidden = true;
  $("export-json").hidden = true;
  player.load(result.tracks);
  render(result);
  $("result").hidden = false;
  $("result").scrollIntoView({ behavior: "smooth", block: "start" });
}

function render(result) {
  $("photo").src = state.photoUrl;
  drawBoxes($("boxes"), result.photo);
  drawBars($("bars"), result.photo.faces);
  drawCircumplex($("circumplex"), result);
  $("mood-message").textContent = moodMessage(result);
  drawPlaylist($("playlist"), result.tracks, {
    play: (i) => player.play(i),
    feedback: async (track, kind, button) => {
      try {
        await api.feedback(track.id, kind, null);
        button.setAttribute("aria-pressed", "true");
        toast(t(kind === "like" ? "liked" : "disliked", { title: track.title }));
        showTaste();
      } catch (error) {
        explain(error, null);
      }
    },
  });
  markPlaying($("playlist"), player.index);
}

async function savePlaylist() {
  const result = state.result;
  if (!result) return;
  try {
    const saved = await api.savePlaylist({
      name: t("playlist_name", { mood: t("emotion_" + result.mood.dominant), date: new Date().toLocaleDateString(lang()) }),
      tracks: result.tracks.map((tr) => ({ track_id: tr.id, score: tr.score, reasons: tr.reasons })),
      params: { strategy: result.target.strategy, seed: result.seed },
    });
    $("export-m3u").href = api.exportUrl(saved.id, "m3u");
    $("export-json").href = api.exportUrl(saved.id, "json");
    $("export-m3u").hidden = false;
    $("export-json").hidden = false;
    toast(t("saved"));
  } catch (error) {
    explain(error, savePlaylist);
  }
}

// ---- file picking, drag and drop ------------------------------------------
$("file-input").addEventListener("change", (e) => {
  const [file] = e.target.files;
  if (file) analysePhoto(file);
  e.target.value = "";
});
const zone = $("dropzone");
zone.addEventListener("keydown", (e) => {
  if ((e.key === "Enter" || e.key === " ") && e.target === zone) {
    e.preventDefault();
    $("file-input").click();
  }
});
zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
zone.addEventListener("dragleave", () => zone.classList.remove("over"));
zone.addEventListener("drop", (e) => {
  e.preventDefault();
  zone.classList.remove("over");
  const [file] = e.dataTransfer.files;
  if (file) analysePhoto(file);
});

// ---- webcam -----------------------------------------------------------------
let stream = null;

async function openCamera() {
  const note = $("camera-note");
  note.hidden = true;
  if (!window.isSecureContext || !navigator.mediaDevices?.getUserMedia) {
    note.textContent = t("camera_insecure");
    note.hidden = false;
    return;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
  } catch (error) {
    note.textContent = t(error.name === "NotAllowedError" ? "camera_denied" : "camera_missing");
    note.hidden = false;
    return;
  }
  $("camera-video").srcObject = stream;
  $("camera").hidden = false;
  $("dropzone").hidden = true;
  $("camera-shoot").focus();
}

function closeCamera() {
  stream?.getTracks().forEach((track) => track.stop());
  stream = null;
  $("camera").hidden = true;
  $("dropzone").hidden = false;
}

async function shoot() {
  $("camera-shoot").disabled = true;
  for (const n of [3, 2, 1]) {
    $("countdown").textContent = String(n);
    await new Promise((resolve) => setTimeout(resolve, 700));
  }
  $("countdown").textContent = "";
  const video = $("camera-video");
  const canvas = document.createElement("canvas");
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext("2d").drawImage(video, 0, 0);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.92));
  $("camera-shoot").disabled = false;
  closeCamera();
  $("camera-open").textContent = t("retake");
  analysePhoto(new File([blob], "camera.jpg", { type: "image/jpeg" }));
}

$("camera-open").addEventListener("click", openCamera);
$("camera-close").addEventListener("click", closeCamera);
$("camera-shoot").addEventListener("click", shoot);
$("params").addEventListener("submit", newList);
$("save").addEventListener("click", savePlaylist);

// ---- start ------------------------------------------------------------------
setIcon($("theme-toggle"), "theme");
applyTheme(initialTheme());
await setLang(preferredLang());
$("lang-toggle").textContent = lang() === "en" ? "RU" : "EN";
player.relabel();
document.body.dataset.ready = "true";
loadGenres();
showTaste();
