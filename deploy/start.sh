#!/bin/sh
# The image's default command. Migrates the database and imports the demo catalog when it has
# no tracks (`moodtune init`), analyses the demo music unless MOODTUNE_DEMO_MUSIC=0 (files
# already stored are skipped), then serves on 0.0.0.0:${PORT:-8000}. Replicas of a stack run
# `moodtune serve` alone and leave the first two steps to a one-shot init service.
set -e
moodtune init
if [ "${MOODTUNE_DEMO_MUSIC:-1}" = 1 ]; then
    moodtune library add /opt/moodtune-demo/music --workers 1
fi
exec moodtune serve --host 0.0.0.0 --port "${PORT:-8000}"
