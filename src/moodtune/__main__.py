"""``python -m moodtune``: the same CLI as the ``moodtune`` command."""

from moodtune.cli import app

if __name__ == "__main__":
    app(prog_name="moodtune")
