// The bottom player: one <audio> for tracks we can stream, Spotify's embed for catalog tracks.
import { api } from "./api.js";
import { t } from "./i18n.js";
import { setIcon } from "./icons.js";

const $ = (id) => document.getElementById(id);

function clock(seconds) {
  if (!Number.isFinite(seconds)) return "0:00";
  const s = Math.floor(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

export class Player {
  constructor({ onChange }) {
    this.audio = $("audio");
    this.tracks = [];
    this.index = -1;
    this.onChange = onChange;
    this.spotifyDevice = null; // Spotify's in-page player, for Premium listeners
    this.onSpotifyError = () => {};
    this.audio.volume = Number($("volume").value);
    setIcon($("prev"), "prev");
    setIcon($("next"), "next");
    this.showState();
    $("play").addEventListener("click", () => this.toggle());
    $("next").addEventListener("click", () => this.next({ skipped: true }));
    $("prev").addEventListener("click", () => this.previous());
    $("volume").addEventListener("input", (e) => (this.audio.volume = Number(e.target.value)));
    $("seek").addEventListener("input", (e) => (this.audio.currentTime = Number(e.target.value)));
    this.audio.addEventListener("timeupdate", () => this.showTime());
    this.audio.addEventListener("loadedmetadata", () => this.showTime());
    this.audio.addEventListener("play", () => this.showState());
    this.audio.addEventListener("pause", () => this.showState());
    this.audio.addEventListener("ended", () => {
      this.report("complete");
      this.next({ skipped: false });
    });
    document.addEventListener("keydown", (e) => this.shortcut(e));
  }

  // After a language switch: labels change, the playing track's title does not.
  relabel() {
    if (this.current) $("now-cover").alt = t("cover_of", { title: this.current.title });
    else $("now-title").textContent = t("nothing_playing");
    this.showState();
  }

  load(tracks) {
    this.stop();
    this.tracks = tracks;
    this.index = -1;
  }

  get current() {
    return this.tracks[this.index];
  }

  play(index) {
    if (!this.tracks.length) return;
    this.index = (index + this.tracks.length) % this.tracks.length; // loops to the start
    const track = this.current;
    $("now-title").textContent = track.title;
    $("now-artist").textContent = track.artists.join(", ");
    $("now-cover").src = track.cover_url;
    $("now-cover").alt = t("cover_of", { title: track.title });
    if (track.audio_url) {
      $("spotify").hidden = true;
      $("spotify-frame").removeAttribute("src");
      this.audio.src = track.audio_url;
      this.audio.play().catch(() => {});
      this.report("play");
    } else if (this.spotifyDevice && track.spotify_id) {
      this.audio.pause();
      this.audio.removeAttribute("src");
      $("spotify").hidden = true;
      $("spotify-frame").removeAttribute("src");
      $("now-artist").textContent = `${track.artists.join(", ")} · ${t("playing_in_spotify")}`;
      this.spotifyDevice.play(track).catch((error) => this.onSpotifyError(error));
    } else {
      this.audio.pause();
      this.audio.removeAttribute("src");
      $("spotify").hidden = false;
      $("spotify-frame").src = `https://open.spotify.com/embed/track/${track.spotify_id}`;
      $("spotify-link").href = track.spotify_url;
    }
    this.showState();
    this.onChange(this.index);
  }

  toggle() {
    if (this.index < 0) return this.play(0);
    if (!this.current.audio_url && this.spotifyDevice) return this.spotifyDevice.togglePlay();
    if (!this.current.audio_url) return;
    if (this.audio.paused) this.audio.play().catch(() => {});
    else this.audio.pause();
  }

  next({ skipped }) {
    if (!this.tracks.length) return;
    if (skipped && this.index >= 0 && this.current.audio_url && !this.audio.paused) {
      this.report("skip");
    }
    this.play(this.index + 1);
  }

  previous() {
    if (this.tracks.length) this.play(this.index <= 0 ? this.tracks.length - 1 : this.index - 1);
  }

  stop() {
    this.audio.pause();
    this.audio.removeAttribute("src");
    this.audio.load();
    $("spotify").hidden = true;
    $("spotify-frame").removeAttribute("src");
    $("now-title").textContent = t("nothing_playing");
    $("now-artist").textContent = "";
    $("now-cover").removeAttribute("src");
    this.index = -1;
    this.showTime();
    this.showState();
  }

  report(kind) {
    const track = this.current;
    if (!track) return;
    const position = Math.round(this.audio.currentTime * 1000);
    api.feedback(track.id, kind, kind === "play" ? 0 : position).catch(() => {});
  }

  showTime() {
    const { currentTime, duration } = this.audio;
    $("time-now").textContent = clock(currentTime);
    $("time-total").textContent = clock(duration);
    $("seek").max = Number.isFinite(duration) ? String(duration) : "0";
    $("seek").value = String(currentTime || 0);
  }

  showState() {
    const playing = !this.audio.paused && this.audio.src;
    setIcon($("play"), playing ? "pause" : "play");
    $("play").setAttribute("aria-label", t(playing ? "pause" : "play"));
    $("play").setAttribute("aria-pressed", String(Boolean(playing)));
  }

  shortcut(event) {
    const tag = (event.target.tagName || "").toLowerCase();
    if (["input", "select", "textarea", "button", "a"].includes(tag) && event.key !== "Escape") {
      return; // keys keep their meaning inside controls
    }
    if (event.key === " ") {
      event.preventDefault();
      this.toggle();
    } else if (event.key === "ArrowRight" && event.shiftKey) {
      this.next({ skipped: true });
    } else if (event.key === "ArrowLeft" && event.shiftKey) {
      this.previous();
    } else if (event.key === "ArrowRight") {
      this.audio.currentTime = Math.min(this.audio.currentTime + 5, this.audio.duration || 0);
    } else if (event.key === "ArrowLeft") {
      this.audio.currentTime = Math.max(this.audio.currentTime - 5, 0);
    } else if (event.key === "ArrowUp" || event.key === "ArrowDown") {
      event.preventDefault();
      const step = event.key === "ArrowUp" ? 0.1 : -0.1;
      this.audio.volume = Math.min(1, Math.max(0, this.audio.volume + step));
      $("volume").value = String(this.audio.volume);
    }
  }
}
