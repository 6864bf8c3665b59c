import pytest

from moodtune.nonmusic import catalog_reason


def _reason(title: str, artist: str = "Someone", **kwargs: object) -> str | None:
    fields: dict[str, object] = {"album": None, "genres": [], "tempo": 120.0, "speechiness": 0.05}
    fields.update(kwargs)
    return catalog_reason(title=title, artists=[artist], **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("title", "artist", "reason"),
    [
        ("Pink Noise for Sleep 14", "Granular", "noise recording"),
        ("Fan, Low Speed - Loopable With No Fade", "White Noise Babies", "noise recording"),
        ("Forest Rain", "Rain Sounds", "nature or ambience recording"),
        ("Caribbean Thunderstorm", "Mother Nature Sound FX", "nature or ambience recording"),
        ("Door Slam 3", "Studio Sound Effects", "sound effects"),
        ("Whispered Relaxing Haircut Pt. 2", "Gibi ASMR", "ASMR"),
        ("Binaural Alpha Sinus 142 Hz - 152 Hz", "Vorssenn", "binaural or frequency tones"),
        ("Samadhi (Alpha 10 Hz)", "Syntropy", "binaural or frequency tones"),
        ("Betrayal - Skit", "Juice WRLD", "spoken word"),
    ],
)
def test_named_non_music_recordings_are_flagged(title: str, artist: str, reason: str) -> None:
    assert _reason(title, artist) == reason


@pytest.mark.parametrize(
    ("title", "artist"),
    [
        ("Rain", "The Beatles"),
        ("Noise Annoys", "Buzzcocks"),
        ("Stand Up", "Jessie J"),
        ("Thunderstruck", "AC/DC"),
        ("Sleep", "My Chemical Romance"),
        ("Here With You", "Lost Frequencies"),
    ],
)
def test_songs_with_such_words_in_their_names_are_music(title: str, artist: str) -> None:
    assert _reason(title, artist) is None


def test_no_tempo_means_no_beat_or_pitch() -> None:
    assert _reason("Drift", tempo=0.0) == "no beat or pitch (tempo 0)"
    assert _reason("Drift", tempo=None) is None


def test_spoken_word_by_speechiness_except_rapped_genres() -> None:
    assert _reason("Mending Wall", speechiness=0.93) == "spoken word (speechiness 0.93)"
    assert _reason("Mic Check", speechiness=0.8, genres=["rap"]) is None
    assert _reason("A Song", speechiness=0.65) is None
