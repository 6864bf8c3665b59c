// "Analyse a track" (seed 001): upload a song, see what the network hears, get tracks like it.
import { api } from "./api.js";
import { t } from "./i18n.js";
import { drawPlaylist, wireDropZone } from "./views.js";

const $ = (id) => document.getElementById(id);
const NOTES = ["C", "C♯", "D", "D♯", "E", "F", "F♯", "G", "G♯", "A", "A♯", "B"];
const MAX_BYTES = 50 * 1024 * 1024;

export function keyName(features) {
  const key = features.key;
  if (key == null || key < 0 || key > 11) return "—";
  return t(features.mode === 1 ? "key_major" : "key_minor", { note: NOTES[key] });
}

function facts(list, rows) {
  list.replaceChildren();
  for (const [term, value] of rows) {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = value;
    list.append(dt, dd);
  }
}

export class TrackAnalysis {
  constructor({ player, explain, feedback, playFrom }) {
    this.player = player;
    this.playFrom = playFrom;
    this.explain = explain;
    this.feedback = feedback;
    this.result = null;
    this.name = "";
    wireDropZone($("track-drop"), $("track-input"), (file) => this.analyse(file));
  }

  async analyse(file) {
    if (file.size > MAX_BYTES) return this.explain({ code: "too_large", message: "" }, null);
    $("track-busy").hidden = false;
    $("track-drop").setAttribute("aria-busy", "true");
    try {
      this.result = await api.analyse(file);
      this.name = file.name;
      this.render();
    } catch (error) {
      $("track-result").hidden = true;
      // The server's 415 speaks of photos and tracks alike; here it is about audio.
      const audioError = error.code === "unsupported_media_type" ? { ...error, code: "bad_audio" } : error;
      this.explain(audioError, () => this.analyse(file));
    } finally {
      $("track-busy").hidden = true;
      $("track-drop").setAttribute("aria-busy", "false");
    }
  }

  render() {
    const r = this.result;
    if (!r) return;
    const f = r.features;
    $("track-name").textContent = this.name;
    $("spectrogram").src = r.spectrogram || "";
    $("spectrogram").hidden = !r.spectrogram;
    $("track-heard").textContent = t("analysis_heard", {
      quadrant: `quadrant_${r.heard_mood.quadrant}`,
      sure: Math.round(100 * r.heard_mood.probability),
    });
    const styles = Object.entries(r.style).slice(0, 3).map(([name, p]) => `${name.replace(/_/g, " ")} ${Math.round(100 * p)}%`);
    facts($("track-facts"), [
      [t("fact_style"), styles.join(", ")],
      [t("fact_tempo"), t("bpm", { bpm: Math.round(f.tempo) })],
      [t("fact_key"), keyName(f)],
      [t("fact_loudness"), t("db", { db: Math.round(f.loudness * 10) / 10 })],
      [t("fact_energy"), String(Math.round(100 * f.energy)) + "%"],
      [t("fact_valence"), String(Math.round(100 * f.valence)) + "%"],
      [t("fact_duration"), t("seconds_analysed", { total: Math.round(r.duration_s), analysed: Math.round(r.analysed_s) })],
    ]);
    facts($("track-estimators"), Object.entries(r.estimators));
    this.drawList($("like-catalog"), r.catalog);
    this.drawList($("like-library"), r.library);
    $("like-library-empty").hidden = r.library.length > 0;
    $("track-result").hidden = false;
  }

  drawList(list, tracks) {
    drawPlaylist(list, tracks, {
      play: (i) => {
        this.player.load(tracks);
        this.playFrom(list);
        this.player.play(i);
      },
      feedback: this.feedback,
    });
  }
}
