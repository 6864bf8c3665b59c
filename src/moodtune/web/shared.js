// A shared playlist, read-only: what a phone opens from the QR code.
import { api } from "./api.js";
import { preferredLang, renderReason, setLang, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const token = location.pathname.split("/").pop();

function row(item) {
  const track = item.track;
  const li = document.createElement("li");
  li.className = "track";
  const cover = document.createElement("img");
  cover.src = track.cover_url;
  cover.alt = t("cover_of", { title: track.title });
  cover.width = 56;
  cover.height = 56;
  const info = document.createElement("div");
  info.className = "track-info";
  const title = document.createElement("div");
  title.className = "track-title";
  title.textContent = track.title;
  const artists = document.createElement("div");
  artists.className = "muted";
  artists.textContent = track.artists.join(", ");
  const reasons = document.createElement("ul");
  reasons.className = "reasons";
  for (const reason of item.reasons) {
    const li2 = document.createElement("li");
    li2.textContent = renderReason(reason);
    reasons.append(li2);
  }
  info.append(title, artists, reasons);
  const actions = document.createElement("div");
  actions.className = "track-actions";
  if (track.audio_url) {
    const play = document.createElement("button");
    play.type = "button";
    play.className = "play-track";
    play.textContent = t("play");
    play.setAttribute("aria-label", t("play_track", { title: track.title }));
    play.addEventListener("click", () => {
      const audio = $("shared-audio");
      audio.hidden = false;
      audio.src = track.audio_url;
      audio.play();
    });
    actions.append(play);
  } else if (track.spotify_url) {
    const link = document.createElement("a");
    link.href = track.spotify_url;
    link.rel = "noopener";
    link.target = "_blank";
    link.textContent = t("open_spotify");
    actions.append(link);
  }
  li.append(cover, info, actions);
  return li;
}

await setLang(preferredLang());
try {
  const playlist = await api.shared(token);
  $("shared-title").textContent = playlist.name;
  document.title = `${playlist.name} · moodtune`;
  $("shared-tracks").replaceChildren(...playlist.tracks.map(row));
} catch (error) {
  $("shared-error").textContent = t(`error_${error.code}`, { message: error.message });
  $("shared-error").hidden = false;
  $("shared-note").hidden = true;
}
document.body.dataset.ready = "true";
