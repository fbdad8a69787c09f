"""What loads what: inference (the library's entry point, the web app, the evaluation) imports no
training code, so `seminpaint serve` and `seminpaint evaluate` never load a trainer."""

from __future__ import annotations

import json
import subprocess
import sys


def test_inference_imports_no_training_module():
    code = ("import json, sys\n"
            "import seminpaint.api, seminpaint.web.app, seminpaint.evaluation\n"
            "print(json.dumps(sorted(name for name in sys.modules if name.startswith('seminpaint'))))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(result.stdout)
    assert "seminpaint.baselines.context_encoder" in loaded  # the Context Encoder baseline is loaded ...
    training = [name for name in loaded if name == "seminpaint.training" or name.startswith("seminpaint.training.")]
    assert not training, training  # ... but not its trainer, nor any other
