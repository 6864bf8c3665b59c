// "My playlists": open, play, rename, delete, export and share (link and QR code) saved lists.
import { api } from "./api.js";
import { t, tn } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const FORMATS = [["m3u", "export_m3u"], ["xspf", "export_xspf"], ["json", "export_json"]];

function button(key, onClick, { ghost = true, label = null, text = {} } = {}) {
  const node = document.createElement("button");
  node.type = "button";
  node.className = ghost ? "ghost" : "";
  node.textContent = t(key, text);
  if (label) node.setAttribute("aria-label", label);
  node.addEventListener("click", onClick);
  return node;
}

// A playlist's tracks in the shape the playlist view and the player take.
export function playlistTracks(playlist) {
  return playlist.tracks.map((item) => ({ ...item.track, position: item.position, reasons: item.reasons }));
}

function showShare(box, share, onRevoke) {
  box.replaceChildren();
  const link = document.createElement("a");
  link.href = share.url;
  link.textContent = share.url;
  link.className = "share-link";
  const qr = document.createElement("img");
  qr.src = share.qr_svg_url;
  qr.alt = t("qr_alt");
  qr.className = "qr";
  qr.width = 180;
  qr.height = 180;
  box.append(qr, link);
  if (share.loopback) {
    const warn = document.createElement("p");
    warn.className = "warning";
    warn.textContent = t("share_loopback");
    box.append(warn);
  }
  box.append(button("revoke_share", onRevoke));
  box.hidden = false;
}

export class Library {
  constructor({ open, explain, toast }) {
    this.open = open;
    this.explain = explain;
    this.toast = toast;
    this.items = [];
    this.sources = [];
    this.spotify = null;
  }

  async refresh() {
    try {
      [this.items, this.sources, this.spotify] = await Promise.all([api.playlists(), api.sources(), api.spotify()]);
    } catch (error) {
      this.explain(error, () => this.refresh());
      return;
    }
    this.render();
  }

  // Spotify: connect (a plain link: the login is a redirect), or who is connected and log out.
  renderSpotify() {
    const box = $("spotify-account");
    box.replaceChildren();
    box.hidden = !this.spotify?.configured;
    if (box.hidden) return;
    if (this.spotify.connected) {
      const who = document.createElement("span");
      who.textContent = t("spotify_connected", { name: this.spotify.display_name || "Spotify" });
      box.append(who, button("spotify_logout", () => this.logoutSpotify()));
    } else {
      const link = document.createElement("a");
      link.className = "button ghost";
      link.href = "/api/v1/spotify/login";
      link.textContent = t("spotify_connect");
      box.append(link);
    }
  }

  get spotifyPremium() {
    return Boolean(this.spotify?.connected && this.spotify.premium);
  }

  async logoutSpotify() {
    try {
      await api.spotifyLogout();
      await this.refresh();
    } catch (error) {
      this.explain(error, null);
    }
  }

  async saveToSpotify(item) {
    try {
      const saved = await api.saveToSpotify(item.id);
      this.toast(tn("spotify_saved", saved.added, { missing: saved.missing }));
    } catch (error) {
      this.explain(error, () => this.saveToSpotify(item));
    }
  }

  async push(item, source) {
    try {
      const pushed = await api.push(item.id, source.name);
      this.toast(tn("pushed", pushed.pushed, { source: source.name, skipped: pushed.skipped }));
    } catch (error) {
      this.explain(error, () => this.push(item, source));
    }
  }

  render() {
    this.renderSpotify();
    const list = $("library");
    list.replaceChildren();
    $("library-empty").hidden = this.items.length > 0;
    for (const item of this.items) list.append(this.row(item));
  }

  row(item) {
    const li = document.createElement("li");
    li.className = "saved";
    li.dataset.playlistId = String(item.id);
    const head = document.createElement("div");
    head.className = "row spread";
    const name = document.createElement("span");
    name.className = "saved-name";
    name.textContent = item.name;
    const count = document.createElement("span");
    count.className = "muted small";
    count.textContent = tn("track_count", item.track_count);
    const title = document.createElement("div");
    title.append(name, " ", count);
    const actions = document.createElement("div");
    actions.className = "row";
    const shareBox = document.createElement("div");
    shareBox.className = "share";
    shareBox.hidden = true;
    actions.append(
      button("open_playlist", () => this.openPlaylist(item), { ghost: false, label: t("open_named", { name: item.name }) }),
      button("rename", () => this.rename(li, item), { label: t("rename_named", { name: item.name }) }),
      button("share", () => this.share(item, shareBox), { label: t("share_named", { name: item.name }) }),
      button("delete", () => this.remove(item), { label: t("delete_named", { name: item.name }) }),
    );
    if (this.spotify?.connected) {
      actions.append(button("save_spotify", () => this.saveToSpotify(item), { label: t("save_spotify_named", { name: item.name }) }));
    }
    for (const source of this.sources) {
      actions.append(button("push_to", () => this.push(item, source), { label: t("push_to_named", { name: item.name, source: source.name }), text: { source: source.name } }));
    }
    for (const [format, key] of FORMATS) {
      const link = document.createElement("a");
      link.className = "button ghost";
      link.href = api.exportUrl(item.id, format);
      link.setAttribute("download", "");
      link.textContent = t(key);
      link.setAttribute("aria-label", `${t(key)}: ${item.name}`);
      actions.append(link);
    }
    head.append(title, actions);
    li.append(head, shareBox);
    if (item.shared) {
      // POST returns the existing link: it makes nothing new for a shared playlist.
      api.share(item.id).then((share) => showShare(shareBox, share, () => this.revoke(item, shareBox))).catch(() => {});
    }
    return li;
  }

  async openPlaylist(item) {
    try {
      this.open(await api.playlist(item.id));
    } catch (error) {
      this.explain(error, () => this.openPlaylist(item));
    }
  }

  rename(li, item) {
    const form = document.createElement("form");
    form.className = "row rename-form";
    const input = document.createElement("input");
    input.value = item.name;
    input.maxLength = 200;
    input.required = true;
    input.setAttribute("aria-label", t("playlist_name_label"));
    const save = document.createElement("button");
    save.type = "submit";
    save.textContent = t("save");
    form.append(input, save, button("cancel", () => this.render()));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await api.renamePlaylist(item.id, input.value.trim());
        await this.refresh();
      } catch (error) {
        this.explain(error, null);
      }
    });
    li.querySelector(".saved-name").replaceWith(form);
    input.focus();
    input.select();
  }

  async remove(item) {
    if (!window.confirm(t("delete_confirm", { name: item.name }))) return;
    try {
      await api.deletePlaylist(item.id);
      this.toast(t("deleted", { name: item.name }));
      await this.refresh();
    } catch (error) {
      this.explain(error, null);
    }
  }

  async share(item, box) {
    try {
      const share = await api.share(item.id);
      showShare(box, share, () => this.revoke(item, box));
      box.querySelector("a").focus();
    } catch (error) {
      this.explain(error, () => this.share(item, box));
    }
  }

  async revoke(item, box) {
    try {
      await api.revokeShare(item.id);
      box.replaceChildren();
      box.hidden = true;
      this.toast(t("share_revoked"));
    } catch (error) {
      this.explain(error, null);
    }
  }
}
