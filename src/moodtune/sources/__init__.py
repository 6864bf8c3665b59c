"""Music servers moodtune reads from and writes to (Subsonic/OpenSubsonic). No DB or web imports."""
