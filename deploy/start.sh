#!/bin/sh
# The image's default command. Migrates the database, creates the storage folder or bucket and
# imports the demo catalog when it has no tracks (`moodtune init`), analyses the demo music
# unless MOODTUNE_DEMO_MUSIC=0 (files already stored are skipped), then serves on
# 0.0.0.0:${PORT:-8000}. `moodtune-start --init-only` stops before serving: the compose stack's
# one-shot init service, after which its replicas run `moodtune serve` alone.
set -e
moodtune init
if [ "${MOODTUNE_DEMO_MUSIC:-1}" = 1 ]; then
    moodtune library add /opt/moodtune-demo/music --workers 1
fi
if [ "$1" = "--init-only" ]; then
    exit 0
fi
exec moodtune serve --host 0.0.0.0 --port "${PORT:-8000}"
