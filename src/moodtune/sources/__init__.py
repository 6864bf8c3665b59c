"""Music servers moodtune reads from and writes to (Subsonic/OpenSubsonic). No DB or web imports."""

import logging

# The HTTP client logs each request's URL at INFO, and both services put credentials there
# (Subsonic: token and salt or the hex-encoded password; Spotify: codes). Never log them.
for _name in ("httpx2", "httpcore2", "httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)
