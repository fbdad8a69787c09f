"""What loads what: inference (the library's entry point, `seminpaint inpaint`, the web app, the
evaluation) imports no training code, so `seminpaint inpaint`, `serve` and `evaluate` never load a
trainer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def loaded_after(code: str) -> list[str]:
    """The seminpaint modules loaded in a fresh interpreter after running `code`."""
    report = "\nimport json, sys\nprint(json.dumps(sorted(m for m in sys.modules if m.startswith('seminpaint'))))\n"
    result = subprocess.run([sys.executable, "-c", code + report], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def under(package: str, modules: list[str]) -> list[str]:
    return [name for name in modules if name == package or name.startswith(package + ".")]


def test_inference_imports_no_training_module():
    loaded = loaded_after("import seminpaint, seminpaint.api, seminpaint.cli, seminpaint.web.app, "
                          "seminpaint.evaluation, seminpaint.candidates, seminpaint.tuning")
    assert "seminpaint.baselines.context_encoder" in loaded  # the Context Encoder baseline is loaded ...
    assert not under("seminpaint.training", loaded)  # ... but not its trainer, nor any other


def test_seminpaint_inpaint_loads_no_training_module(tmp_path):
    code = (
        f"import sys; sys.path.insert(0, {str(TESTS)!r})\n"
        "import numpy as np\n"
        "from PIL import Image\n"
        "from conftest import TINY, tiny_model\n"
        "from seminpaint.cli import main\n"
        "from seminpaint.networks.checkpoint import save_checkpoint\n"
        f"folder = {str(tmp_path)!r}\n"
        "model = tiny_model()\n"
        "save_checkpoint(folder + '/tiny.safetensors', TINY, model.generator, model.discriminator)\n"
        "Image.fromarray(np.full((16, 16, 3), 128, np.uint8)).save(folder + '/in.png')\n"
        "assert main(['inpaint', '--model', folder + '/tiny.safetensors', '--image', folder + '/in.png',\n"
        "             '--mask', 'center', '--output', folder + '/out.png', '--iterations', '2']) == 0\n"
    )
    loaded = loaded_after(code)
    assert "seminpaint.latent" in loaded and not under("seminpaint.training", loaded)

