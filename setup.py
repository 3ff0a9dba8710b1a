"""The packages, and the optional compiled token scanner of the NTU reader (neuron/data/_ntu_tokens.c).

Everything else about the package is in pyproject.toml. The prompt templates and the shipped side
information stay where users look for them, prompts/ and data/side_info/ at the top of the repository,
and travel inside the package as the data-only packages of DATA_PACKAGES (neuron.paths finds them
with importlib.resources); an editable install maps them onto those folders.

`optional=True`: where no C compiler is available the install still succeeds and
neuron.data.ntu_raw uses its numpy scanner.
"""

from setuptools import Extension, find_packages, setup

DATA_PACKAGES = {"neuron.prompt_templates": "prompts", "neuron.shipped_side_info": "data/side_info"}

setup(
    packages=find_packages(include=["neuron*"]) + list(DATA_PACKAGES),
    package_dir=DATA_PACKAGES,
    package_data={"neuron.prompt_templates": ["*.txt", "*.md"], "neuron.shipped_side_info": ["*.md", "*/*.json"]},
    include_package_data=False,  # exactly package_data (no warning that side_info/utd/ etc. look like packages)
    ext_modules=[Extension("neuron.data._ntu_tokens", ["neuron/data/_ntu_tokens.c"], optional=True)],
)
