# All metadata lives in pyproject.toml; this file only names the cffi build script, which
# setuptools cannot take from pyproject.toml.
from setuptools import setup

setup(cffi_modules=["csrc/build_ffi.py:ffibuilder"])
