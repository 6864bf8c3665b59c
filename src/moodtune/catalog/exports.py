"""Saved playlists as files: extended M3U and JSON."""

import json
from typing import Any
from xml.etree import ElementTree as ET

from moodtune.catalog.models import Playlist, Track
from moodtune.i18n import DEFAULT_LANG, render_reason
from moodtune.recommend.reasons import Reason

__all__ = ["playlist_json", "playlist_m3u", "playlist_xspf", "track_url"]


def track_url(track: Track, *, base_url: str) -> str:
    """Where a player can find the track: our audio stream when we hold the file, else Spotify."""
    if track.streamable:
        return f"{base_url}/api/v1/tracks/{track.id}/audio"
    if track.spotify_id:
        return f"https://open.spotify.com/track/{track.spotify_id}"
    return f"{base_url}/api/v1/tracks/{track.id}"


def _clean(text: str) -> str:
    """M3U is line-based: a newline inside a title would start a bogus entry."""
    return " ".join(text.split())


def playlist_m3u(playlist: Playlist, *, base_url: str) -> str:
    lines = ["#EXTM3U", f"#PLAYLIST:{_clean(playlist.name)}"]
    for item in playlist.items:
        track = item.track
        seconds = round(track.duration_ms / 1000) if track.duration_ms else -1
        artists = ", ".join(track.artists or [])
        lines.append(f"#EXTINF:{seconds},{_clean(artists)} - {_clean(track.title)}")
        lines.append(track_url(track, base_url=base_url))
    return "\n".join(lines) + "\n"


def _reasons(stored: list[Any], lang: str) -> list[dict[str, Any]]:
    reasons = [Reason.from_json(r) for r in stored]
    return [{**r.to_json(), "text": render_reason(r, lang)} for r in reasons]


def playlist_json(playlist: Playlist, *, base_url: str, lang: str = DEFAULT_LANG) -> str:
    doc: dict[str, Any] = {
        "name": playlist.name,
        "created_at": playlist.created_at.isoformat(),
        "params": playlist.params,
        "tracks": [
            {
                "position": item.position + 1,
                "id": item.track.id,
                "title": item.track.title,
                "artists": item.track.artists,
                "album": item.track.album,
                "duration_ms": item.track.duration_ms,
                "spotify_id": item.track.spotify_id,
                "url": track_url(item.track, base_url=base_url),
                "score": item.score,
                "reasons": _reasons(item.reasons, lang),
            }
            for item in playlist.items
        ],
    }
    return json.dumps(doc, ensure_ascii=False, indent=2)


def playlist_xspf(playlist: Playlist, *, base_url: str) -> str:
    """XSPF 1 (XML Shareable Playlist Format), which VLC, Strawberry and many players open."""
    root = ET.Element("playlist", version="1", xmlns="http://xspf.org/ns/0/")
    ET.SubElement(root, "title").text = playlist.name
    ET.SubElement(root, "date").text = playlist.created_at.isoformat()
    tracks = ET.SubElement(root, "trackList")
    for item in playlist.items:
        track, entry = item.track, ET.SubElement(tracks, "track")
        ET.SubElement(entry, "location").text = track_url(track, base_url=base_url)
        ET.SubElement(entry, "title").text = track.title
        if track.artists:
            ET.SubElement(entry, "creator").text = ", ".join(track.artists)
        if track.album:
            ET.SubElement(entry, "album").text = track.album
        if track.duration_ms:
            ET.SubElement(entry, "duration").text = str(track.duration_ms)
        ET.SubElement(entry, "image").text = f"{base_url}/api/v1/tracks/{track.id}/cover"
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
