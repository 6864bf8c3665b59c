// Spotify's Web Playback SDK for Premium listeners: catalog tracks play in full in the page.
// The SDK is Spotify's own script (sdk.scdn.co, allowed by the page's CSP only when Spotify
// login is set up); playback starts through moodtune's server, which holds the tokens.
import { api } from "./api.js";

const SDK_URL = "https://sdk.scdn.co/spotify-player.js";

export function connectSpotifyPlayer({ onReady, onError }) {
  window.onSpotifyWebPlaybackSDKReady = () => {
    const player = new window.Spotify.Player({
      name: "moodtune",
      getOAuthToken: (callback) => api.spotifyToken().then((t) => callback(t.access_token)).catch(onError),
      volume: 0.8,
    });
    player.addListener("ready", ({ device_id: deviceId }) => {
      onReady({
        deviceId,
        play: (track) => api.spotifyPlay(deviceId, track.id),
        togglePlay: () => player.togglePlay(),
        pause: () => player.pause(),
      });
    });
    for (const event of ["initialization_error", "authentication_error", "account_error", "playback_error"]) {
      player.addListener(event, ({ message }) => onError({ code: "spotify_player", message }));
    }
    player.connect();
  };
  const script = document.createElement("script");
  script.src = SDK_URL;
  script.addEventListener("error", () => onError({ code: "spotify_player", message: "it did not load (is there internet?)" }));
  document.head.append(script);
}
