// The genre picker: type to search every genre, Enter or a suggestion adds it as a chip (up to 3).
import { t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
export const MAX_GENRES = 3;

export class GenrePicker {
  constructor({ onFull }) {
    this.onFull = onFull;
    this.known = new Map(); // casefolded name -> name
    this.chosen = [];
    this.loaded = false;
    this.pending = null; // a genre asked for before the list arrived: added when it does
    const input = $("genre-search");
    input.addEventListener("keydown", (e) => {
      if (e.key !== "Enter") return;
      e.preventDefault(); // Enter adds the genre; it does not submit the parameters form
      this.add(input.value);
    });
    input.addEventListener("change", () => this.add(input.value, { quiet: true }));
  }

  setGenres(genres) {
    this.known = new Map(genres.map((g) => [g.name.toLowerCase(), g.name]));
    this.loaded = true;
    $("genre-list").replaceChildren(
      ...genres.map((g) => {
        const option = document.createElement("option");
        option.value = g.name;
        option.label = `${g.name} (${g.tracks})`;
        return option;
      }),
    );
    if (this.pending !== null) {
      const { text, quiet } = this.pending;
      this.pending = null;
      this.add(text, { quiet });
    }
  }

  add(text, { quiet = false } = {}) {
    if (!this.loaded) {
      this.pending = { text, quiet }; // the list is still loading: not an unknown genre yet
      return;
    }
    const name = this.known.get(text.trim().toLowerCase());
    if (!name) {
      // An inline note rather than the browser's bubble, which would swallow the next click.
      if (!quiet && text.trim()) $("genre-note").textContent = t("genre_unknown");
      return;
    }
    $("genre-note").textContent = "";
    $("genre-search").value = "";
    if (this.chosen.includes(name)) return;
    if (this.chosen.length >= MAX_GENRES) return this.onFull();
    this.chosen = [...this.chosen, name];
    this.render();
  }

  remove(name) {
    this.chosen = this.chosen.filter((g) => g !== name);
    this.render();
    $("genre-search").focus();
  }

  render() {
    $("genre-chips").replaceChildren(
      ...this.chosen.map((name) => {
        const chip = document.createElement("button");
        chip.type = "button";
        chip.className = "chip";
        chip.setAttribute("aria-pressed", "true");
        chip.setAttribute("aria-label", t("genre_remove", { genre: name }));
        chip.textContent = `${name} ×`;
        chip.addEventListener("click", () => this.remove(name));
        return chip;
      }),
    );
  }
}
