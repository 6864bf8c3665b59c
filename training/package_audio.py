"""Ship a trained audio model: copy its ONNX into the package and write the sidecar with the
checksum the runtime verifies at load.

    .venv/bin/python training/package_audio.py --run=runs/audio
"""

import argparse
import hashlib
import json
import shutil
from pathlib import Path

from moodtune.audio.embed import DEFAULT_AUDIO_MODEL, AudioModel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", type=Path, required=True, help="training output with audio.onnx")
    args = parser.parse_args()
    target = DEFAULT_AUDIO_MODEL.parent / "audio.onnx"
    shutil.copyfile(args.run / "audio.onnx", target)
    sidecar = {"file": target.name, "sha256": hashlib.sha256(target.read_bytes()).hexdigest()}
    DEFAULT_AUDIO_MODEL.write_text(json.dumps(sidecar, indent=2) + "\n")
    model = AudioModel.from_path(DEFAULT_AUDIO_MODEL)  # refuses a broken copy
    print(json.dumps({**sidecar, "name": model.name, "embedding_dim": model.embedding_dim}))


if __name__ == "__main__":
    main()
