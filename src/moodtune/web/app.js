// moodtune's page: photo or webcam in, mood and playlist out, a player at the bottom.
import { TrackAnalysis } from "./analyse.js";
import { api } from "./api.js";
import { GenrePicker } from "./genres.js";
import { connectSpotifyPlayer } from "./spotify-player.js";
import { hasKey, lang, preferredLang, setLang, t, tn } from "./i18n.js";
import { setIcon } from "./icons.js";
import { Library, playlistTracks } from "./library.js";
import { Player } from "./player.js";
import { EMOTIONS, wireDropZone, drawBars, drawBoxes, drawCircumplex, drawPlaylist, mapPoint, markPlaying, moodMessage } from "./views.js";

const $ = (id) => document.getElementById(id);
const THEME_KEY = "moodtune.theme";
const MAX_BYTES = 10 * 1024 * 1024;
const TYPES = ["image/jpeg", "image/png", "image/webp"];

const FEELINGS = ["calm", "tired", "focused", "bored", "content"];
// mood: the mood part of a request ({emotions} from a photo, {emotion}, {feeling} or {point});
// photo: the last photo's reading, kept while the mood is corrected by hand.
const state = { photo: null, photoUrl: null, mood: null, face: "all", result: null, opened: null, busy: false, taste: null };
// The list the player plays from: the playlist, or a list under "Analyse a track".
let playingList = null;
const player = new Player({ onChange: (i) => markPlaying(playingList || $("playlist"), i) });
function playFrom(list) {
  for (const other of document.querySelectorAll(".playlist")) if (other !== list) markPlaying(other, -1);
  playingList = list;
}

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
  showMoodChoice();
  library.render();
  trackAnalysis.render();
  genrePicker.render();
  showExplicitControl();
  if (state.result) render(state.result);
  else if (state.opened) renderTracks(playlistTracks(state.opened));
});

// ---- parameters -----------------------------------------------------------
function params() {
  const form = $("params");
  return {
    strategy: form.elements.strategy.value,
    n: Math.min(50, Math.max(1, Number($("length").value) || 10)),
    genres: genrePicker.chosen,
    popularity: $("popularity").value,
    explicit: $("explicit").checked,
    playable_only: $("playable").checked,
    personalization: $("personalization").value,
  };
}

const genrePicker = new GenrePicker({ onFull: () => toast(t("genres_max")) });

// The explicit filter only where it can do something: some track must carry the flag.
async function loadCatalogSummary() {
  try {
    state.catalog = await api.catalog();
  } catch {
    state.catalog = null;
  }
  showExplicitControl();
}

function showExplicitControl() {
  const summary = state.catalog;
  $("explicit-control").hidden = !summary || summary.explicit === 0;
  if (summary && summary.explicit > 0) {
    $("explicit-note").textContent = summary.explicit_unknown
      ? tn("explicit_unknown", summary.explicit_unknown, { total: summary.tracks })
      : "";
  }
}

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
    genrePicker.setGenres(await api.genres());
  } catch (error) {
    explain(error, loadGenres);
  }
}

// ---- photo in, playlist out -------------------------------------------------
function setBusy(busy) {
  state.busy = busy;
  document.body.classList.toggle("busy", busy);
  $("new-list").disabled = busy || !state.mood;
  $("dropzone").setAttribute("aria-busy", String(busy));
  $("busy").hidden = !busy;
}

async function analysePhoto(file) {
  if (!TYPES.includes(file.type)) return toast(t("error_unsupported_media_type"), { kind: "error" });
  if (file.size > MAX_BYTES) return toast(t("error_photo_too_large"), { kind: "error" });
  player.stop(); // a new photo stops the music (seed 000)
  setBusy(true);
  try {
    const result = await api.moodPlaylist(file, params());
    if (state.photoUrl) URL.revokeObjectURL(state.photoUrl);
    state.photoUrl = URL.createObjectURL(file);
    state.photo = result.photo;
    state.face = "all";
    state.photoEmotions = result.mood.emotions; // all faces, blended
    state.mood = { emotions: result.mood.emotions };
    show(result);
  } catch (error) {
    if (error.code === "no_face") clearResult(); // the old result is not this photo's
    explain(error, () => analysePhoto(file));
  } finally {
    setBusy(false);
  }
}

function clearResult() {
  player.stop();
  state.photo = null;
  state.mood = null;
  state.result = null;
  $("result").hidden = true;
  setBusy(false);
  showMoodChoice();
}

// A mood chosen or corrected by hand: an emotion, a feeling or a point on the map.
async function chooseMood(mood) {
  state.mood = mood;
  showMoodChoice();
  await newList();
}

async function newList(event) {
  event?.preventDefault();
  if (!state.mood) return;
  setBusy(true);
  try {
    const result = await api.recommend({ ...state.mood, ...params() });
    result.photo = state.photo;
    player.stop();
    show(result);
  } catch (error) {
    explain(error, () => newList());
  } finally {
    setBusy(false);
  }
}

function moodButton(kind, name, container) {
  const node = document.createElement("button");
  node.type = "button";
  node.className = "chip";
  node.dataset[kind] = name;
  node.setAttribute("aria-pressed", "false");
  node.addEventListener("click", () => chooseMood({ [kind]: name }));
  container.append(node);
}

function showMoodChoice() {
  const mood = state.mood || {};
  for (const node of document.querySelectorAll("[data-emotion], [data-feeling]")) {
    const key = node.dataset.emotion ? `emotion_${node.dataset.emotion}` : `feeling_${node.dataset.feeling}`;
    node.textContent = t(key);
    const chosen = node.dataset.emotion ? mood.emotion === node.dataset.emotion : mood.feeling === node.dataset.feeling;
    node.setAttribute("aria-pressed", String(Boolean(chosen)));
  }
}

function buildMoodPickers() {
  for (const name of EMOTIONS) moodButton("emotion", name, $("mood-picker"));
  for (const name of FEELINGS) moodButton("feeling", name, $("feeling-picker"));
  for (const name of FEELINGS) moodButton("feeling", name, $("feeling-offer"));
  showMoodChoice();
}

// In a group photo the listener picks whose mood counts (or all faces, blended).
function showFaceChoice(photo) {
  const select = $("face-select");
  $("face-choice").hidden = !photo || photo.faces.length < 2;
  if ($("face-choice").hidden) return;
  select.replaceChildren();
  const all = new Option(t("all_faces"), "all");
  select.append(all);
  photo.faces.forEach((face, i) => {
    select.append(new Option(`${t("face_n", { n: i + 1 })}: ${t("emotion_" + face.dominant)}`, String(i)));
  });
  select.value = state.face;
}

$("face-select").addEventListener("change", (e) => {
  state.face = e.target.value;
  const faces = state.photo.faces;
  const emotions = state.face === "all" ? state.photoEmotions : faces[Number(state.face)].emotions;
  chooseMood({ emotions });
});

// Click or drag on the map: that point is the mood.
function pointerPoint(event) {
  const svg = $("circumplex");
  const at = new DOMPoint(event.clientX, event.clientY).matrixTransform(svg.getScreenCTM().inverse());
  return mapPoint(at.x, at.y);
}

let dragging = false;
$("circumplex").addEventListener("pointerdown", (e) => {
  dragging = true;
  $("circumplex").setPointerCapture(e.pointerId);
});
$("circumplex").addEventListener("pointermove", (e) => {
  if (!dragging) return;
  const [valence, arousal] = pointerPoint(e);
  const mood = $("circumplex").querySelector(".map-mood");
  if (mood) {
    mood.setAttribute("cx", String(valence * 100));
    mood.setAttribute("cy", String(-arousal * 100));
  }
});
$("circumplex").addEventListener("pointerup", (e) => {
  if (!dragging) return;
  dragging = false;
  const [valence, arousal] = pointerPoint(e);
  chooseMood({ point: { valence, arousal } });
});

function show(result) {
  state.result = result;
  state.opened = null;
  $("result").querySelector(".panel").hidden = false;
  $("save-form").hidden = false;
  $("playlist-name").value = defaultName(result);
  player.load(result.tracks);
  playFrom($("playlist"));
  render(result);
  $("result").hidden = false;
  $("result").scrollIntoView({ behavior: "smooth", block: "start" });
}

function defaultName(result) {
  const mood = result.mood.feeling ? t("feeling_" + result.mood.feeling) : t("emotion_" + result.mood.dominant);
  return t("playlist_name", { mood, date: new Date().toLocaleDateString(lang()) });
}

// The photo's reading is uncertain, or neutral leads: offer the quieter moods instead of guessing.
function needsChoice(result) {
  const photo = result.photo;
  if (!photo || result.mood.feeling || !state.mood?.emotions) return false;
  return photo.uncertain_reasons.length > 0 || result.mood.dominant === "neutral";
}

function render(result) {
  const photo = result.photo;
  $("photo-figure").hidden = !photo;
  $("bars").hidden = !photo;
  if (photo) {
    $("photo").src = state.photoUrl;
    drawBoxes($("boxes"), photo);
    drawBars($("bars"), photo.faces);
  }
  showFaceChoice(photo);
  $("uncertain").hidden = !needsChoice(result);
  drawCircumplex($("circumplex"), result);
  $("mood-message").textContent = moodMessage(result, Boolean(photo) && Boolean(state.mood?.emotions));
  $("playlist-title").textContent = t("playlist");
  renderTracks(result.tracks);
}

function renderTracks(tracks) {
  drawPlaylist($("playlist"), tracks, {
    play: (i) => player.play(i),
    feedback: sendFeedback,
  });
  markPlaying($("playlist"), playingList === $("playlist") ? player.index : -1);
}

async function sendFeedback(track, kind, button) {
  try {
    await api.feedback(track.id, kind, null);
    button.setAttribute("aria-pressed", "true");
    toast(t(kind === "like" ? "liked" : "disliked", { title: track.title }));
    showTaste();
  } catch (error) {
    explain(error, null);
  }
}

// A saved playlist opened from "My playlists": its tracks and reasons, no mood to show.
function openSaved(playlist) {
  state.opened = playlist;
  state.result = null;
  const tracks = playlistTracks(playlist);
  player.load(tracks);
  playFrom($("playlist"));
  $("result").hidden = false;
  $("result").querySelector(".panel").hidden = true;
  $("playlist-title").textContent = playlist.name;
  $("save-form").hidden = true;
  renderTracks(tracks);
  $("result").scrollIntoView({ behavior: "smooth", block: "start" });
  player.play(0);
}

async function savePlaylist(event) {
  event.preventDefault();
  const result = state.result;
  if (!result) return;
  try {
    await api.savePlaylist({
      name: $("playlist-name").value.trim() || defaultName(result),
      tracks: result.tracks.map((tr) => ({ track_id: tr.id, score: tr.score, reasons: tr.reasons })),
      params: { strategy: result.target.strategy, seed: result.seed },
    });
    toast(t("saved"));
    library.refresh();
  } catch (error) {
    explain(error, () => savePlaylist(event));
  }
}

// ---- file picking, drag and drop ------------------------------------------
wireDropZone($("dropzone"), $("file-input"), analysePhoto);

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
$("save-form").addEventListener("submit", savePlaylist);
// SHIFT+C: open the camera, or take the photo when it is open (seed 004's capture shortcut).
document.addEventListener("keydown", (e) => {
  const tag = (e.target.tagName || "").toLowerCase();
  if (!e.shiftKey || e.key !== "C" || ["input", "select", "textarea"].includes(tag)) return;
  e.preventDefault();
  if (stream) shoot();
  else openCamera();
});

// ---- start ------------------------------------------------------------------
setIcon($("theme-toggle"), "theme");
applyTheme(initialTheme());
await setLang(preferredLang());
$("lang-toggle").textContent = lang() === "en" ? "RU" : "EN";
player.relabel();
buildMoodPickers();
// Back from Spotify's login: say how it went, and drop the query from the address bar.
const spotifyReturn = new URLSearchParams(location.search).get("spotify");
if (spotifyReturn) {
  history.replaceState(null, "", location.pathname);
  toast(t(spotifyReturn === "connected" ? "spotify_welcome" : "spotify_failed"), { kind: spotifyReturn === "connected" ? "info" : "error" });
}
const library = new Library({ open: openSaved, explain, toast });
player.onSpotifyError = (error) => explain(error, null);
library.refresh().then(() => {
  if (!library.spotifyPremium) return;
  connectSpotifyPlayer({
    onReady: (device) => {
      player.spotifyDevice = device;
      document.body.dataset.spotifyPlayer = "ready";
    },
    onError: (error) => explain(error, null),
  });
});
const trackAnalysis = new TrackAnalysis({ player, explain, feedback: sendFeedback, playFrom });
document.body.dataset.ready = "true";
loadGenres();
loadCatalogSummary();
showTaste();
