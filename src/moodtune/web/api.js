// Thin client for the REST API: every failure becomes an ApiError with the server's code.
const BASE = "/api/v1";

export class ApiError extends Error {
  constructor(code, message, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

async function request(path, options = {}) {
  let response;
  try {
    response = await fetch(BASE + path, { credentials: "same-origin", ...options });
  } catch {
    throw new ApiError("network", "The server cannot be reached.", 0);
  }
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const error = body && body.error ? body.error : { code: "internal", message: response.statusText };
    throw new ApiError(error.code, error.message, response.status);
  }
  return body;
}

const json = (method, payload) => ({
  method,
  headers: { "Content-Type": "application/json" },
  body: JSON.stringify(payload),
});

export const api = {
  genres: () => request("/genres"),
  catalog: () => request("/catalog"),
  taste: () => request("/listeners/me/taste"),
  moodPlaylist(image, params) {
    const form = new FormData();
    form.append("image", image);
    for (const [key, value] of Object.entries(params)) {
      form.append(key, Array.isArray(value) ? value.join(",") : String(value));
    }
    return request("/mood-playlist", { method: "POST", body: form });
  },
  analyse(file) {
    const form = new FormData();
    form.append("audio", file);
    return request("/analyze", { method: "POST", body: form });
  },
  recommend: (payload) => request("/recommendations", json("POST", payload)),
  feedback: (trackId, kind, positionMs) =>
    request("/feedback", json("POST", { track_id: trackId, kind, position_ms: positionMs })),
  savePlaylist: (payload) => request("/playlists", json("POST", payload)),
  playlists: () => request("/playlists"),
  playlist: (id) => request(`/playlists/${id}`),
  renamePlaylist: (id, name) => request(`/playlists/${id}`, json("PATCH", { name })),
  deletePlaylist: (id) => request(`/playlists/${id}`, { method: "DELETE" }),
  share: (id) => request(`/playlists/${id}/share`, { method: "POST" }),
  revokeShare: (id) => request(`/playlists/${id}/share`, { method: "DELETE" }),
  shared: (token) => request(`/shared/${encodeURIComponent(token)}`),
  sources: () => request("/sources"),
  push: (id, source) => request(`/playlists/${id}/push`, json("POST", { source })),
  spotify: () => request("/spotify"),
  spotifyToken: () => request("/spotify/token"),
  spotifyPlay: (deviceId, trackId) => request("/spotify/play", json("POST", { device_id: deviceId, track_id: trackId })),
  spotifyLogout: () => request("/spotify/logout", { method: "POST" }),
  saveToSpotify: (id) => request(`/playlists/${id}/spotify`, { method: "POST" }),
  exportUrl: (id, format) => `${BASE}/playlists/${id}/export?format=${format}`,
};
