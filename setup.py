"""Builds the optional compiled token scanner of the NTU reader (neuron/data/_ntu_tokens.c).

Everything else about the package is in pyproject.toml. `optional=True`: where no C compiler
is available the install still succeeds and neuron.data.ntu_raw uses its numpy scanner.
"""

from setuptools import Extension, setup

setup(ext_modules=[
    Extension("neuron.data._ntu_tokens", ["neuron/data/_ntu_tokens.c"], optional=True),
])
