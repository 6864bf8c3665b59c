import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from moodtune.api import create_app
from moodtune.cli import app
from moodtune.config import Settings


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run the CLI against a fresh SQLite database in tmp_path."""
    env = {
        "MOODTUNE_DATA_DIR": str(tmp_path),
        "MOODTUNE_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
    }
    runner = CliRunner()

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args), env=env)

    return invoke


def test_a_database_without_tables_or_server_says_what_to_do(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("recommend", "--emotion", "sad", "--json")
    assert result.exit_code == 1, result.output
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "unavailable" and "run `moodtune init` first" in error["message"]
    assert "Traceback" not in result.output

    runner = CliRunner()
    down = runner.invoke(
        app, ["recommend", "--emotion", "sad"],
        env={"MOODTUNE_DATA_DIR": str(tmp_path),
             "MOODTUNE_DATABASE_URL": "postgresql://moodtune:x@127.0.0.1:9/moodtune"},
    )  # fmt: skip
    assert down.exit_code == 1 and "cannot use the database" in down.output


def test_upgrade_import_and_recommend_as_json(run, small_catalog: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    upgraded = run("db", "upgrade", "--json")
    assert upgraded.exit_code == 0 and json.loads(upgraded.stdout) == {"revision": "0007"}
    imported = run("catalog", "import", str(small_catalog), "--json")
    assert imported.exit_code == 0
    summary = json.loads(imported.stdout)
    assert {k: summary[k] for k in ("inserted", "updated", "rejected")} == {
        "inserted": 1500,
        "updated": 0,
        "rejected": 0,
    }

    result = run(
        "recommend", "--emotion", "sad", "--strategy", "uplift", "--n", "5", "--seed", "9", "--json"
    )
    assert result.exit_code == 0, result.stderr
    cli_doc = json.loads(result.stdout)
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'cli.db'}")
    with TestClient(create_app(settings)) as client:
        api_doc = client.post(
            "/api/v1/recommendations",
            json={"emotion": "sad", "strategy": "uplift", "n": 5, "seed": 9},
        ).json()
    assert cli_doc == api_doc


def test_human_output_lists_the_tracks(run, small_catalog: Path) -> None:  # type: ignore[no-untyped-def]
    run("db", "upgrade")
    run("catalog", "import", str(small_catalog))
    result = run(
        "recommend",
        "--emotions",
        '{"angry": 0.6, "neutral": 0.4}',
        "--strategy",
        "journey",
        "--n",
        "3",
        "--seed",
        "1",
    )
    assert (
        result.exit_code == 0
        and "strategy: journey" in result.stdout
        and "step 1 of 3" in result.stdout
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["recommend", "--emotion", "bored"], "emotion"),
        (["recommend", "--emotions", "{not json"], "invalid parameters"),
        (["recommend", "--emotion", "sad", "--genres", "polka"], "unknown genre"),
    ],
    ids=["unknown-emotion", "bad-json", "unknown-genre"],
)
def test_errors_exit_1_with_the_envelope(run, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    run("db", "upgrade")
    result = run(*args, "--json")
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert message in error["message"] and error["code"] == "invalid_input"


def test_unusable_catalog_file_exits_1(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("db", "upgrade")
    bad = tmp_path / "bad.csv"
    bad.write_text("title,artist\nSong,Someone\n")
    result = run("catalog", "import", str(bad), "--json")
    assert (
        result.exit_code == 1 and json.loads(result.stdout)["error"]["code"] == "bad_catalog_file"
    )
    assert "no column for spotify_id" in run("catalog", "import", str(bad)).stderr


def test_usage_errors_exit_2(run) -> None:  # type: ignore[no-untyped-def]
    assert run("recommend", "--n", "0").exit_code == 2
    assert run("no-such-command").exit_code == 2


def test_init_imports_the_bundled_catalog_once(run) -> None:  # type: ignore[no-untyped-def]
    first = json.loads(run("init", "--json").stdout)
    assert first["revision"] == "0007" and first["tracks"] == 81936
    assert first["catalog_import"]["rejected"] == 4
    flags = first["catalog_import"]["non_music_by_reason"]
    assert first["catalog_import"]["non_music"] == sum(flags.values()) > 300
    assert {"noise recording", "spoken word", "ASMR", "binaural or frequency tones"} <= set(flags)
    again = json.loads(run("init", "--json").stdout)
    assert again["catalog_import"] is None and again["tracks"] == 81936


DEMO = Path(__file__).resolve().parents[2] / "demo" / "music"


def test_analyze_prints_the_design_shape(run) -> None:  # type: ignore[no-untyped-def]
    result = run("analyze", str(DEMO / "etr_1.ogg"), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert {"features", "estimators", "style", "embedding_dim"} <= set(doc)
    assert {"valence", "energy", "tempo", "key", "mode", "loudness"} <= set(doc["features"])
    assert all(name in doc["estimators"] for name in doc["features"])
    assert doc["embedding_dim"] == 128 and 0 <= min(doc["style"].values())


def test_analyze_and_library_errors(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake = tmp_path / "fake.mp3"
    fake.write_text("not music at all " * 100)
    bad = run("analyze", str(fake), "--json")
    assert bad.exit_code == 1 and json.loads(bad.stdout)["error"]["code"] == "bad_audio"
    missing = run("library", "add", str(tmp_path / "nowhere"), "--json")
    assert missing.exit_code == 1 and json.loads(missing.stdout)["error"]["code"] == "invalid_input"


def test_library_add_then_recommend_from_it(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    music = tmp_path / "music"
    music.mkdir()
    for name in ("etr_1.ogg", "supertux_1.ogg"):
        (music / name).write_bytes((DEMO / name).read_bytes())
    added = run("library", "add", str(music), "--workers", "1", "--json")
    assert added.exit_code == 0, added.output
    report = json.loads(added.stdout)
    assert report["added"] == 2 and report["failed"] == [] and report["x_real_time"] > 1
    playlist = run("recommend", "--emotion", "happy", "--playable-only", "--n", "5", "--json")
    tracks = json.loads(playlist.stdout)["tracks"]
    assert {t["title"] for t in tracks} == {"Credits Ballad", "Ghost Forest 2"}


def test_library_list_remove_and_rescan_as_json(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import numpy as np
    import soundfile as sf

    music = tmp_path / "music"
    music.mkdir()
    (music / "etr_1.ogg").write_bytes((DEMO / "etr_1.ogg").read_bytes())
    rng = np.random.default_rng(0)
    sf.write(music / "noise.wav", rng.normal(0, 0.1, 15 * 22050), 22050)
    added = json.loads(run("library", "add", str(music), "--workers", "1", "--json").stdout)
    assert [Path(f["path"]).name for f in added["flagged"]] == ["noise.wav"]

    listed = run("library", "list", "--json")
    assert listed.exit_code == 0, listed.output
    doc = json.loads(listed.stdout)
    assert (doc["count"], doc["flagged"]) == (2, 1)
    flagged = json.loads(run("library", "list", "--flagged", "--json").stdout)["tracks"]
    assert [(Path(t["path"]).name, t["non_music"]) for t in flagged] == [
        ("noise.wav", "noise (no pitched sound)")
    ]
    human = run("library", "list", "--flagged")
    assert "noise (no pitched sound)" in human.stdout and "1 flagged" in human.stdout

    rescan = json.loads(run("library", "rescan", "--workers", "1", "--json").stdout)
    assert (rescan["unchanged"], rescan["updated"]) == (2, 0)
    forced = json.loads(run("library", "rescan", "--all", "--workers", "1", "--json").stdout)
    assert forced["updated"] == 2 and len(forced["flagged"]) == 1

    removed = run("library", "remove", str(flagged[0]["id"]), "--json")
    assert removed.exit_code == 0 and json.loads(removed.stdout)["count"] == 1
    gone = run("library", "remove", str(music / "noise.wav"), "--json")
    assert gone.exit_code == 1 and json.loads(gone.stdout)["error"]["code"] == "not_found"
    assert json.loads(run("library", "list", "--json").stdout)["count"] == 1
