"""The HTML report in a real browser (headless Chromium): it loads without console errors, every image
decodes, the first screen shows the answer. Skipped, saying why, where no Chromium is installed
(`.ci/run` installs Debian's package)."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from behave.report.__main__ import main as report_main
from behave.train import run
from tests.compose import compose_train

BROWSER = next(
    (shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome") if shutil.which(name)),
    None,
)
pytestmark = pytest.mark.skipif(
    BROWSER is None, reason="no Chromium here (apt-get install chromium; .ci/run installs it)"
)


def headless(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
    ]
    return subprocess.run([BROWSER, *flags, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def report_html(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("browser")
    for model in ("logreg", "xgboost"):
        for seed in (0, 1):
            cfg = compose_train(
                [f"model={model}", f"seed={seed}", "data.source.n_users=600"],
                root / "sweep" / f"{model}{seed}",
                root / "cache",
            )
            assert run(cfg).status == "ok"
    assert report_main([str(root / "sweep"), "--n-boot", "200"]) == 0
    return root / "sweep" / "report.html"


def test_the_report_loads_without_console_errors_and_shows_the_answer(report_html, tmp_path):
    dom = headless("--virtual-time-budget=5000", "--dump-dom", report_html.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not console, console
    assert "The answer" in dom.stdout and re.search(
        r"On <strong>synthetic</strong>, .* ranks first by AUROC", dom.stdout
    )
    # The answer is the first section: it comes before any table or figure in the page.
    assert dom.stdout.index("The answer") < min(dom.stdout.index("<table"), dom.stdout.index("<img"))
    shot = tmp_path / "first_screen.png"
    taken = headless("--window-size=1280,800", f"--screenshot={shot}", report_html.as_uri())
    assert taken.returncode == 0 and shot.exists(), taken.stderr[-2000:]
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (800, 1280)
    # Text on the first screen: many rows hold dark pixels (a blank or failed page would hold none).
    dark = (pixels[..., :3].mean(axis=2) < 0.4).any(axis=1)
    assert dark.sum() > 100


def test_every_image_in_the_report_decodes(report_html):
    import matplotlib.image

    sources = re.findall(r'<img src="data:image/png;base64,([^"]+)" alt="([^"]*)"', report_html.read_text())
    assert sources
    for encoded, alt in sources:
        image = matplotlib.image.imread(io.BytesIO(base64.b64decode(encoded)), format="png")
        assert image.shape[0] > 50 and image.shape[1] > 50 and np.ptp(image) > 0
        assert alt.strip(), "an image without alt text"
