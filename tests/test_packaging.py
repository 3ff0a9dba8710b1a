"""A non-editable install carries the prompt templates and the shipped side information.

The project is built into a wheel (from a copy of its sources, so that the build writes nothing
into the checkout), installed into a folder of its own, and run from another working directory:
`neuron predict` must find the shipped descriptions inside the installed package, and the data
directory must default to the working directory's data/, not site-packages.
"""

import json
import os
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import test_classify
from neuron.paths import PROMPTS_DIR, REPO_ROOT, SIDE_INFO_DIR
from neuron.side_info.prompts import PromptTemplates

tiny_model = test_classify.tiny_model  # match.pt of a model trained in seconds (kinect20, WordLlama features)

SOURCES = ("pyproject.toml", "setup.py", "README.md", "neuron", "prompts", "data/side_info")  # what the build reads
UTD_CLASSES = ["right hand wave", "two hand front clap", "jogging in place"]


def run(args, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(args, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.mark.slow
def test_installed_wheel_predicts_with_the_shipped_side_information(tiny_model, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        if (REPO_ROOT / name).is_dir():
            shutil.copytree(REPO_ROOT / name, src / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.egg-info"))
        else:
            shutil.copy(REPO_ROOT / name, src / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", tmp_path / "wheels", src])
    (wheel,) = (tmp_path / "wheels").glob("neuron-*.whl")

    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    shipped = {f"neuron/prompt_templates/{p.name}" for p in PROMPTS_DIR.glob("*.txt")} | {
        f"neuron/shipped_side_info/{p.relative_to(SIDE_INFO_DIR).as_posix()}" for p in SIDE_INFO_DIR.glob("*/*.json")}
    assert len(shipped) > 200 and shipped <= names, sorted(shipped - names)[:5]
    assert "neuron/prompt_templates/README.md" in names

    site, work = tmp_path / "site", tmp_path / "work"
    run([*pip, "install", "--no-deps", "--no-index", "--target", site, wheel])
    work.mkdir()
    env = {key: value for key, value in os.environ.items() if key not in ("NEURON_DATA_DIR", "NEURON_RESULTS_DIR")}
    env.update(PYTHONPATH=str(site), OMP_NUM_THREADS="1")

    # The installed copy is imported, with its own prompts and side information, and data/ is the
    # working directory's.
    probe = ("import json, neuron, neuron.paths as p; from neuron.side_info.prompts import PromptTemplates; "
             "print(json.dumps([neuron.__file__, str(p.PROMPTS_DIR), str(p.SIDE_INFO_DIR), str(p.DATA_DIR), "
             "str(p.RESULTS_DIR), PromptTemplates.load().sha256]))")
    module, prompts, side_info, data, results, sha256 = json.loads(
        run([sys.executable, "-c", probe], cwd=work, env=env).stdout)
    for path in (module, prompts, side_info):
        assert path.startswith(f"{site}{os.sep}"), path
    assert (data, results) == (str(work / "data"), str(work / "results"))
    assert sha256 == PromptTemplates.load().sha256

    np.save(work / "clip.npy", test_classify.moving_person(frames=24, joints=20))
    ranking = json.loads(run([sys.executable, "-m", "neuron", "predict", "--model", tiny_model, "--skeleton",
                              "clip.npy", "--classes", *UTD_CLASSES, "--json"], cwd=work, env=env).stdout)
    assert sorted(r["class"] for r in ranking) == sorted(UTD_CLASSES)
    assert {r["descriptions"] for r in ranking} == {"shipped utd"}
    probabilities = [r["probability"] for r in ranking]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) == pytest.approx(1.0)
    assert (work / "data" / "text_features").is_dir()  # the text feature cache, under the working directory
