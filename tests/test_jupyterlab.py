"""`make lab` opens the notebooks in JupyterLab: the server lists them, and a kernel it starts runs the project's code.

The test drives a real `jupyter lab` server through its REST and websocket API, the way the browser
does, on a random port and token, with its runtime and config directories in a temporary folder.
"""

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

pytest.importorskip("jupyterlab", reason="jupyterlab is not installed (pip install -e '.[notebooks]')")
nbformat = pytest.importorskip("nbformat")
websocket = pytest.importorskip("tornado.websocket")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
NUMBERED = [
    "00_data.ipynb",
    "01_side_information.ipynb",
    "02_encoder_pretraining.ipynb",
    "03_train.ipynb",
    "04_ablations.ipynb",
    "05_analysis.ipynb",
]
STARTUP_TIMEOUT = 60  # seconds; the server starts in a few, but the machine may be busy
EXECUTE_TIMEOUT = 60


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def api(server, method, path, body=None):
    """One REST call authenticated by the token header; returns the decoded JSON (None when empty)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{server['url']}{path}", data=data, method=method, headers={"Authorization": f"token {server['token']}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        payload = response.read()
    return json.loads(payload) if payload else None


def wait_until_up(server, proc, log):
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            return api(server, "GET", "/api/status")
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    pytest.fail(f"jupyter lab did not answer within {STARTUP_TIMEOUT} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    """A `jupyter lab` of this venv serving notebooks/; terminated (with its kernels) at teardown."""
    tmp = tmp_path_factory.mktemp("jupyter")
    port, token = free_port(), secrets.token_hex(16)
    # Private Jupyter and IPython dirs: nothing is written to, or read from, the user's own
    # (a kernelspec in the user's data dir could otherwise shadow the venv's `python3`).
    env = dict(os.environ)
    for name in ("JUPYTER_RUNTIME_DIR", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "IPYTHONDIR"):
        env[name] = str(tmp / name.lower())
    env.pop("JUPYTER_TOKEN", None)
    log = tmp / "server.log"
    command = [
        sys.executable, "-m", "jupyter", "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",  # fail on a taken port rather than serve on another one
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={NOTEBOOKS}",
    ]  # fmt: skip
    if os.geteuid() == 0:  # containers and CI run as root, which jupyter refuses without this flag
        command.append("--allow-root")
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    server = {"url": f"http://127.0.0.1:{port}", "token": token, "port": port}
    try:
        wait_until_up(server, proc, log)
        yield server
    finally:
        proc.terminate()  # the server shuts its kernels down on SIGTERM
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def execute_request(session, code):
    msg_id = uuid.uuid4().hex
    header = {"msg_id": msg_id, "msg_type": "execute_request", "session": session, "username": "test", "version": "5.3"}
    content = {"code": code, "silent": False, "store_history": True, "user_expressions": {}, "allow_stdin": False,
               "stop_on_error": True}  # fmt: skip
    message = {"header": header, "parent_header": {}, "metadata": {}, "content": content, "channel": "shell"}
    return msg_id, json.dumps(message)


async def run_cells(server, kernel_id, cells):
    """Execute the cells in order over the kernel's websocket; returns each cell's printed text."""
    url = f"ws://127.0.0.1:{server['port']}/api/kernels/{kernel_id}/channels?token={server['token']}"
    conn = await websocket.websocket_connect(url)
    session, outputs = uuid.uuid4().hex, []
    try:
        for code in cells:
            msg_id, message = execute_request(session, code)
            await conn.write_message(message)
            printed, errors, reply, idle = [], [], None, False
            # The shell's execute_reply and the iopub outputs travel on different channels: a cell is
            # done when both its reply and its iopub "idle" status (sent after every output) came.
            while reply is None or not idle:
                raw = await conn.read_message()
                assert raw is not None, "the kernel's websocket closed"
                message = json.loads(raw)
                if message.get("parent_header", {}).get("msg_id") != msg_id:
                    continue  # status messages of the server's own kernel_info request, and the like
                if message["msg_type"] == "stream":
                    printed.append(message["content"]["text"])
                elif message["msg_type"] == "error":
                    errors.append("\n".join(message["content"]["traceback"]))
                elif message["msg_type"] == "execute_reply":
                    reply = message
                elif message["msg_type"] == "status":
                    idle = message["content"]["execution_state"] == "idle"
            assert reply["content"]["status"] == "ok", f"cell failed:\n{code}\n" + "\n".join(errors)
            outputs.append("".join(printed))
    finally:
        conn.close()
    return outputs


def test_lab_lists_the_numbered_notebooks(lab_server):
    listing = api(lab_server, "GET", "/api/contents/")
    names = {entry["name"] for entry in listing["content"] if entry["type"] == "notebook"}
    assert set(NUMBERED) <= names


def test_lab_requires_the_token(lab_server):
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{lab_server['url']}/api/contents/", timeout=10)
    assert refused.value.code == 403


def test_lab_kernel_runs_the_project_notebook(lab_server):
    # The opening of 00_data: its parameters cell and the cell importing the project's modules.
    notebook = nbformat.read(NOTEBOOKS / "00_data.ipynb", as_version=4)
    cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    first = next(i for i, cell in enumerate(cells) if "parameters" in cell.metadata.get("tags", []))
    code = [cell.source for cell in cells[first : first + 2]]
    # Then where `neuron` comes from (this checkout, the editable install, not another copy), and
    # names the two cells set.
    probe = "import neuron, sys\nprint(neuron.__file__)\nprint(sys.executable)\nprint(info.name, benchmark)"
    kernel = api(lab_server, "POST", "/api/kernels", {"name": "python3"})
    try:
        outputs = asyncio.run(asyncio.wait_for(run_cells(lab_server, kernel["id"], code + [probe]), EXECUTE_TIMEOUT))
    finally:
        api(lab_server, "DELETE", f"/api/kernels/{kernel['id']}")
    module_file, executable, dataset = outputs[-1].splitlines()
    assert Path(module_file).resolve().is_relative_to(ROOT)
    assert Path(executable).parent == Path(sys.executable).parent  # the venv's Python, as `make lab` gives
    assert dataset == "synthetic xsub"
