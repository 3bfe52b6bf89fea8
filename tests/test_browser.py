"""The Style Lab in a real browser: JupyterLab on loopback, Chromium driven by Playwright.

Runs notebook 05 in fast mode, clicks Run, and checks that a stylized preview appears, the loss
plot changes, and no label of the lab is cut short; saves a screenshot of the lab to
build/screenshots/style_lab.jpg, and to docs/images/style_lab.jpg (the README's picture) when
NSTUTILS_REFRESH_DOCS=1.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
SCREENSHOT = ROOT / "build" / "screenshots" / "style_lab.jpg"
DOCS_SCREENSHOT = ROOT / "docs" / "images" / "style_lab.jpg"

#: Every element of the lab that shows text in a box of its own (labels, checkbox labels, buttons,
#: slider readouts), with the text it shows and whether the box cuts it (ellipsis or hidden overflow).
CUT_LABELS = """lab => Array.from(lab.querySelectorAll(
        '.widget-label, .widget-label-basic, .widget-label-basic span, button, .widget-readout'))
    .filter(e => e.offsetParent !== null && e.textContent.trim())
    .map(e => ({text: e.textContent.trim(), cut: e.scrollWidth > e.clientWidth + 1}))"""

if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytest.skip("Debian's chromium is not installed (CI installs it; `apt-get install chromium`)",
                allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def jupyter_lab(tmp_path):
    port, token = _free_port(), secrets.token_hex(16)
    # Serve a copy: JupyterLab autosaves, and the committed notebooks must stay without outputs.
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    env = dict(os.environ, NSTUTILS_FAST="1", JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               JUPYTER_CONFIG_DIR=str(tmp_path / "config"))
    jupyter = Path(sys.executable).with_name("jupyter")
    server = subprocess.Popen(
        [str(jupyter), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={tmp_path / 'notebooks'}", "--LabApp.expose_app_in_browser=True",
         f"--LabApp.user_settings_dir={tmp_path / 'settings'}", f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        env=env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "server.log", "w"))
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline and server.poll() is None:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        server.terminate()
        pytest.fail("JupyterLab did not start:\n" + (tmp_path / "server.log").read_text()[-2000:])
    yield base, token
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()


def test_style_lab_runs_in_chromium(jupyter_lab):
    from playwright.sync_api import sync_playwright

    base, token = jupyter_lab
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--no-first-run", "--disable-sync", "--disable-quic"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{base}/lab/tree/05_full_transfer.ipynb?token={token}")
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                               " && window.jupyterapp.shell.currentWidget.sessionContext"
                               " && window.jupyterapp.shell.currentWidget.sessionContext.session", timeout=120_000)
        page.wait_for_function("() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
                               " .status === 'idle'", timeout=120_000)
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        run = page.locator(".nst-run").first
        run.wait_for(state="visible", timeout=300_000)
        page.locator(".nst-status").first.wait_for(state="visible")
        plot = page.locator("img.nst-loss-plot").first
        plot_before = plot.get_attribute("src")
        run.scroll_into_view_if_needed()
        run.click()
        page.wait_for_function(
            "() => { const s = document.querySelector('.nst-status'); return s && /done|stopped/.test(s.textContent) }",
            timeout=300_000)
        preview = page.locator("img.nst-preview").first
        preview.scroll_into_view_if_needed()
        page.wait_for_function("() => { const i = document.querySelector('img.nst-preview');"
                               " return i && i.complete && i.naturalWidth > 16 }", timeout=60_000)
        width = preview.evaluate("img => img.naturalWidth")
        plot_after = plot.get_attribute("src")
        status = page.locator(".nst-status").first.inner_text()
        lab = page.locator(".nst-style-lab").first
        labels = lab.evaluate(CUT_LABELS)
        lab.screenshot(path=str(SCREENSHOT), type="jpeg", quality=85)
        browser.close()
    if os.environ.get("NSTUTILS_REFRESH_DOCS") == "1":
        shutil.copyfile(SCREENSHOT, DOCS_SCREENSHOT)
    shown = {label["text"] for label in labels}
    assert {"log₁₀ content", "log₁₀ style", "TV weight", "content", "conv1_1", "Run"} <= shown, shown
    assert not [label["text"] for label in labels if label["cut"]], "labels cut short in JupyterLab"
    assert width > 16, "the stylized preview should be an image"
    assert plot_after and plot_after != plot_before, "the loss plot should have been redrawn"
    assert "best loss" in status
