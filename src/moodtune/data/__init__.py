"""Data files shipped with moodtune (the demo catalog); provenance and terms in NOTICE.md."""
