"""A class on a real JupyterHub (issue 37): one instructor, two learners, one assignment, from release to feedback.

JupyterHub and its proxy (the PyPI port of configurable-http-proxy) run as real processes on 127.0.0.1, with the
dummy authenticator and ``SimpleLocalProcessSpawner``: every server runs as this test's OS user, with a home folder
of its own under the test's temporary folder. That is the hard case for identities: nbgrader's default student id
is the OS user, the same for everyone here (as in every container of one image), so a learner is known by their
hub name only through the learners' configuration, ``teach/learner/`` (``c.CourseDirectory.student_id`` =
``JUPYTERHUB_USER``). The exchange is nbgrader's directory exchange in a temporary folder (``NSTUTILS_EXCHANGE``).

The servers start with the class image's own commands, ``teach/start-learner`` and ``teach/start-instructor``, on
the folders the image builds: the student notebooks (nbgrader's release versions of every notebook) and the course
folder (``teach/nbgrader_config.py`` and the sources). Everything is driven through the hub's proxy with a service
token, as the buttons of JupyterLab do: the Jupyter contents API, nbgrader's assignment-list and validate handlers
(the Assignments tab and the Validate button) for the learners, and the formgrader's API for the instructor.

Learner ada submits the reference solutions, learner ben the same with two wrong functions (``gram_matrix`` the
wrong way round, ``tile`` repeating positions): ada gets every point, ben loses exactly those two, and each gets
their own feedback. Fast mode: the learners' by the image's environment, autograde's by the course config (the
instructor's server runs with NSTUTILS_FAST=0, and the graded notebooks still ran in fast mode).
"""

from __future__ import annotations

import html
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, Iterator

import nbformat
import pytest

from course_tools import NBGRADER_CELLS, NOTEBOOKS, ROOT, course_env, nbgrader, require_nbgrader
from kernels import unix_socket_config

require_nbgrader()
if not os.environ.get("CI"):
    pytest.importorskip("jupyterhub", reason="JupyterHub is in the test extra: pip install -e '.[test]'")
import requests  # noqa: E402  (a dependency of JupyterHub)
from nbgrader.api import Gradebook  # noqa: E402

ASSIGNMENT = "03_gram_style"
COURSE_ID = "nstutils"
INSTRUCTOR, LEARNERS = "instructor", ("ada", "ben")
# ben's two wrong functions: (text in the reference solution, what ben wrote instead)
BEN_MISTAKES = {"gram_matrix": ("transpose_a=True", "transpose_b=True"),
                "tile": ("tf.tile(F, [1, k, k, 1])", "tf.repeat(tf.repeat(F, k, axis=1), k, axis=2)")}
BIN = Path(sys.executable).parent
START_TIMEOUT = 240          # seconds for the hub, or a server, to answer
REQUEST_TIMEOUT = 900        # one validate or autograde of the notebook, on a loaded 2-core machine


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _hub_config(tmp: Path, ports: Dict[str, int], token: str, folders: Dict[str, Path]) -> str:
    """jupyterhub_config.py: everything on 127.0.0.1, the dummy authenticator, per-user homes, the image's
    start commands (the learners' with their Jupyter configuration folder, the instructor's with the course)."""
    common = {"NSTUTILS_FAST": "0",                                        # the class image's policy (Dockerfile)
              "NSTUTILS_EXCHANGE": str(folders["exchange"]),
              "NSTUTILS_CACHE_DIR": str(folders["cache"]),                 # the image's shared cache
              "NSTUTILS_DATA_DIR": os.environ.get("NSTUTILS_DATA_DIR", ""),
              "PYTHONUNBUFFERED": "1"}
    learner = {"NSTUTILS_STUDENT_NOTEBOOKS": str(folders["student"]),
               "JUPYTER_CONFIG_PATH": str(folders["learner_config"])}
    # the instructor's own shell says full quality: autograde must still grade in fast mode, by the course config
    instructor = {"NSTUTILS_COURSE_TEMPLATE": str(folders["course"]), "NSTUTILS_FAST": "0"}
    args = ["--allow-root"] if os.geteuid() == 0 else []
    return f"""
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {ports["hub"]}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {ports["hub_api"]}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{ports["proxy_api"]}"
# the proxy waits for a validate or an autograde as long as the test does (its own default is 20 s)
c.ConfigurableHTTPProxy.command = [{str(BIN / "configurable-http-proxy")!r}, "--timeout={REQUEST_TIMEOUT * 1000}",
                                   "--proxy-timeout={REQUEST_TIMEOUT * 1000}"]
c.JupyterHub.db_url = "sqlite:///{tmp / "jupyterhub.sqlite"}"
c.JupyterHub.cookie_secret_file = {str(tmp / "jupyterhub_cookie_secret")!r}
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allowed_users = {{{", ".join(repr(n) for n in (INSTRUCTOR, *LEARNERS))}}}
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {str(tmp / "home" / "{username}")!r}
c.Spawner.ip = "127.0.0.1"
c.Spawner.args = {args!r}
c.Spawner.start_timeout = {START_TIMEOUT}
c.Spawner.http_timeout = {START_TIMEOUT}
c.JupyterHub.services = [{{"name": "class-test", "api_token": {token!r}}}]
c.JupyterHub.load_roles = [{{"name": "class-test", "services": ["class-test"],
                             "scopes": ["admin:users", "admin:servers", "access:servers"]}}]

def start_command(spawner):
    role = "instructor" if spawner.user.name == {INSTRUCTOR!r} else "learner"
    spawner.cmd = ["bash", {str(ROOT / "teach")!r} + "/start-" + role]
    spawner.environment = dict({common!r}, **({instructor!r} if role == "instructor" else {learner!r}))

c.Spawner.pre_spawn_hook = start_command
"""


class Hub:
    """The running hub, reached through its proxy with the test's service token."""

    def __init__(self, url: str, token: str, homes: Path, process: subprocess.Popen):
        self.url, self.homes, self.process = url, homes, process
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {token}"

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        response = self.session.request(method, f"{self.url}/hub/api{path}", timeout=60, **kwargs)
        response.raise_for_status()
        return response

    def server(self, user: str, method: str, path: str, ok=True, **kwargs) -> requests.Response:
        """A request to ``user``'s own Jupyter server, through the proxy."""
        response = self.session.request(method, f"{self.url}/user/{user}/{path}", timeout=REQUEST_TIMEOUT,
                                        **kwargs)
        if ok:
            assert response.ok, f"{method} {user}/{path}: {response.status_code} {response.text[:2000]}"
        return response

    def action(self, user: str, endpoint: str, **data) -> dict:
        """POST to an nbgrader handler of ``user``'s server; its JSON answer."""
        return self.server(user, "POST", endpoint, data=data).json()

    def notebook(self, user: str, path: str) -> nbformat.NotebookNode:
        content = self.server(user, "GET", f"api/contents/{path}", params={"content": 1}).json()["content"]
        return nbformat.from_dict(content)

    def save(self, user: str, path: str, nb) -> None:
        self.server(user, "PUT", f"api/contents/{path}", json={"type": "notebook", "content": nb})

    def listing(self, user: str, path: str = "") -> Iterator[dict]:
        """Every file ``user``'s server shows, below ``path``."""
        for item in self.server(user, "GET", f"api/contents/{path}").json()["content"]:
            if item["type"] == "directory":
                yield from self.listing(user, item["path"])
            else:
                yield item

    def spawn(self, users) -> None:
        for user in users:
            self.api("POST", f"/users/{user}/server")
        deadline = time.monotonic() + START_TIMEOUT
        waiting = set(users)
        while waiting and time.monotonic() < deadline:
            for user in sorted(waiting):
                server = self.api("GET", f"/users/{user}").json()["servers"].get("", {})
                if server.get("ready"):
                    waiting.discard(user)
            time.sleep(1)
        assert not waiting, f"servers of {sorted(waiting)} not ready after {START_TIMEOUT} s:\n{self.log()}"

    def log(self) -> str:
        return (self.homes.parent / "hub.log").read_text(errors="replace")[-6000:]


def _build_image_folders(tmp: Path) -> Dict[str, Path]:
    """What the class image's build stage makes (teach/Dockerfile): the course folder with every notebook's source
    and the course config, and the student notebooks, nbgrader's release versions of every notebook."""
    course = tmp / "course"
    done = subprocess.run([sys.executable, str(NBGRADER_CELLS), "--course", str(course), str(NOTEBOOKS)], cwd=ROOT,
                          env=course_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    with open(course / "nbgrader_config.py", "a", encoding="utf-8") as config:
        config.write(unix_socket_config(tmp))
    nbgrader(course, "generate_assignment", "*", "--force")
    student = tmp / "student"
    student.mkdir()
    for notebook in (course / "release").glob("*/*.ipynb"):
        shutil.copy(notebook, student / notebook.name)
    shutil.rmtree(course / "release")                   # the instructor generates and releases it from the hub
    (course / "gradebook.db").unlink()
    learner_config = tmp / "learner_config"
    shutil.copytree(ROOT / "teach" / "learner", learner_config)
    with open(learner_config / "nbgrader_config.py", "a", encoding="utf-8") as config:
        config.write('\nc.KernelManager.transport = "ipc"   # tests/kernels.py: no TCP port race with other workers\n')
    exchange = tmp / "exchange"
    exchange.mkdir(mode=0o777)
    from nstutils.config import cache_dir
    return {"course": course, "student": student, "learner_config": learner_config, "exchange": exchange,
            "cache": cache_dir()}


@pytest.fixture(scope="module")
def hub(tmp_path_factory) -> Iterator[Hub]:
    tmp = tmp_path_factory.mktemp("hub")
    folders = _build_image_folders(tmp)
    ports = {name: _free_port() for name in ("hub", "hub_api", "proxy_api")}
    token = secrets.token_hex(16)
    (tmp / "jupyterhub_config.py").write_text(_hub_config(tmp, ports, token, folders), encoding="utf-8")
    env = dict(course_env(), CONFIGPROXY_AUTH_TOKEN=secrets.token_hex(16))
    with open(tmp / "hub.log", "w", encoding="utf-8") as log:
        process = subprocess.Popen([str(BIN / "jupyterhub"), "-f", str(tmp / "jupyterhub_config.py")], cwd=tmp,
                                   env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    hub = Hub(f"http://127.0.0.1:{ports['hub']}", token, tmp / "home", process)
    hub.exchange = folders["exchange"]
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert process.poll() is None, f"JupyterHub exited {process.returncode}:\n{hub.log()}"
            try:
                if requests.get(f"{hub.url}/hub/api/", timeout=5).ok:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, f"JupyterHub did not answer in {START_TIMEOUT} s:\n{hub.log()}"
            time.sleep(0.5)
        hub.spawn([INSTRUCTOR, *LEARNERS])
        yield hub
    finally:
        _stop(process)


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the hub (it stops the servers it spawned and its proxy), then SIGKILL to whatever is left of
    its process group (the servers and their kernels run in sessions of their own: the hub's cleanup ends them)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _solutions(course: Path) -> Dict[str, str]:
    """grade_id -> the reference source of every solution cell of the assignment."""
    nb = nbformat.read(course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    return {cell.metadata["nbgrader"]["grade_id"]: cell.source for cell in nb.cells
            if cell.metadata.get("nbgrader", {}).get("solution")}


def _answer(nb, solutions: Dict[str, str]) -> nbformat.NotebookNode:
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in solutions:
            cell.source = solutions[grade_id]
    return nb


def _scores(course: Path, student: str) -> Dict[str, tuple]:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID) as gb:
        notebook = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
        return {grade.name: (grade.score, grade.max_score) for grade in notebook.grades}


def _text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def test_a_class_on_jupyterhub_from_release_to_feedback(hub):
    course = hub.homes / INSTRUCTOR / "course"
    path = f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb"

    # Each learner's server opens on the student versions: every notebook, no solution anywhere it can reach.
    students = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    for learner in LEARNERS:
        files = list(hub.listing(learner))
        assert sorted(f["name"] for f in files if f["path"].startswith("nstutils/")) == students, files
        for item in files:
            text = json.dumps(hub.notebook(learner, item["path"]))
            assert "BEGIN SOLUTION" not in text and "raise NotImplementedError()" in text, item["path"]
        assert hub.server(learner, "GET", "api/contents/..%2Fnotebooks", ok=False).status_code in (400, 403, 404)
        assert hub.server(learner, "GET", "formgrader/api/status", ok=False).status_code == 404   # no formgrader
    assert hub.server(INSTRUCTOR, "GET", "formgrader/api/status").json()["status"] is True

    # The instructor generates and releases the assignment from the formgrader.
    assert hub.action(INSTRUCTOR, f"formgrader/api/assignment/{ASSIGNMENT}/assign")["success"]
    assert hub.action(INSTRUCTOR, f"formgrader/api/assignment/{ASSIGNMENT}/release")["success"]

    # Each learner fetches it (the Assignments tab), answers, validates (the Validate button) and submits.
    solutions = _solutions(course)
    wrong = {name: solutions[name].replace(text, replacement, 1) for name, (text, replacement) in BEN_MISTAKES.items()}
    assert all(wrong[name] != solutions[name] for name in wrong)
    answers = {"ada": solutions, "ben": dict(solutions, **wrong)}
    for learner in LEARNERS:
        listed = hub.action(learner, "assignments/fetch", course_id=COURSE_ID, assignment_id=ASSIGNMENT)
        assert listed["success"] and [a["status"] for a in listed["value"]] == ["fetched"], listed
        hub.save(learner, path, _answer(hub.notebook(learner, path), answers[learner]))
    with ThreadPoolExecutor(len(LEARNERS)) as pool:   # the two learners validate at the same time
        validated = dict(zip(LEARNERS, pool.map(lambda name: hub.action(name, "assignments/validate", path=path),
                                                LEARNERS)))
    assert validated["ada"]["success"] and not validated["ada"]["value"].get("failed"), validated["ada"]
    failed = validated["ben"]["value"].get("failed", [])
    checks = {cell["source"]: cell["raw_error"] for cell in failed if cell["source"].startswith("check.")}
    assert sorted(checks) == ["check.gram_matrix(gram_matrix)", "check.tile(tile)"], failed
    assert "wrong way round" in checks["check.gram_matrix(gram_matrix)"], checks
    assert "repeated every position" in checks["check.tile(tile)"], checks
    for learner in LEARNERS:
        listed = hub.action(learner, "assignments/submit", course_id=COURSE_ID, assignment_id=ASSIGNMENT)
        assert listed["success"], listed
    assert (hub.exchange / COURSE_ID / "outbound" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").is_file()   # the configured
    inbound = sorted(p.name.split("+")[0] for p in (hub.exchange / COURSE_ID / "inbound").iterdir())  # exchange
    assert inbound == sorted(LEARNERS), inbound          # each submission under the learner's hub name

    # The instructor collects, autogrades, generates and returns the feedback.
    assert hub.action(INSTRUCTOR, f"formgrader/api/assignment/{ASSIGNMENT}/collect")["success"]
    assert sorted(p.name for p in (course / "submitted").iterdir()) == sorted(LEARNERS)   # hub names, not the OS's
    for learner in LEARNERS:
        graded = hub.action(INSTRUCTOR, f"formgrader/api/submission/{ASSIGNMENT}/{learner}/autograde")
        assert graded["success"], graded.get("error", graded)
        assert "SAWarning" not in graded.get("log", ""), graded["log"]
    assert hub.action(INSTRUCTOR, f"formgrader/api/assignment/{ASSIGNMENT}/generate_feedback")["success"]
    assert hub.action(INSTRUCTOR, f"formgrader/api/assignment/{ASSIGNMENT}/release_feedback")["success"]

    graded = nbformat.read(course / "autograded" / "ada" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    setup = next(cell for cell in graded.cells if cell.metadata.get("nbgrader", {}).get("grade_id") == "setup")
    assert "fast mode (NSTUTILS_FAST=1)" in json.dumps(setup.outputs), setup.outputs   # the course config's mode

    ada, ben = _scores(course, "ada"), _scores(course, "ben")
    assert ada and all(score == maximum for score, maximum in ada.values()), ada
    lost = {grade_id: score for grade_id, score in ben.items() if score[0] != score[1]}
    assert lost == {"check_gram_matrix": (0, 1), "check_tile": (0, 1)}, lost

    # Each learner fetches their own feedback.
    total = sum(maximum for _, maximum in ada.values())
    for learner, score in (("ada", total), ("ben", total - 2)):
        listed = hub.action(learner, "assignments/fetch_feedback", course_id=COURSE_ID, assignment_id=ASSIGNMENT)
        assert listed["success"], listed
        pages = [f for f in hub.listing(learner, ASSIGNMENT) if f["name"].endswith(".html")]
        assert len(pages) == 1 and "/feedback/" in pages[0]["path"], pages
        text = _text(hub.server(learner, "GET", f"files/{pages[0]['path']}").text)
        assert re.search(rf"Score:\s*{score:g}(\.0+)?\s*/\s*{total:g}", text), (learner, text[:3000])
        if learner == "ben":
            assert "wrong way round" in text and "repeated every position" in text


def _config(path: Path, **env: str):
    from traitlets.config.loader import PyFileConfigLoader

    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        return PyFileConfigLoader(path.name, path=str(path.parent)).load_config()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def test_the_instructors_and_the_learners_configs_name_the_same_course_and_exchange(monkeypatch):
    monkeypatch.delenv("NSTUTILS_EXCHANGE", raising=False)
    course = _config(ROOT / "teach" / "nbgrader_config.py")
    learner = _config(ROOT / "teach" / "learner" / "nbgrader_config.py", JUPYTERHUB_USER="ada")
    assert course.CourseDirectory.course_id == learner.CourseDirectory.course_id == COURSE_ID
    assert course.Exchange.root == learner.Exchange.root == "/srv/nbgrader/exchange"   # README's path
    assert learner.CourseDirectory.student_id == "ada" and "student_id" not in course.CourseDirectory
    moved = _config(ROOT / "teach" / "learner" / "nbgrader_config.py", NSTUTILS_EXCHANGE="/tmp/x")
    assert moved.Exchange.root == "/tmp/x"
    # autograde's mode is the course's: its kernels start in fast mode whatever the grader's shell says
    assert course.Execute.extra_arguments == ["--IPKernelApp.exec_lines=import os; os.environ['NSTUTILS_FAST'] = '1'"]
    assert learner.Execute.extra_arguments == course.Execute.extra_arguments   # Validate checks as autograde does
