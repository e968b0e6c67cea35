"""Build the Cython extensions of cycle86 (the only thing this file does)."""
import glob
import os

from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))

# Every .pyx under the import packages is one extension named after its path.
# Speed directives live here, not in the sources: the hot loop must not pay for
# bounds checks, negative-index wrap or Python division semantics.
DIRECTIVES = {
    "language_level": 3,
    "boundscheck": False,
    "wraparound": False,
    "cdivision": True,
    "initializedcheck": False,
    "nonecheck": False,
    "overflowcheck": False,
    "embedsignature": True,
}


def extensions():
    exts = []
    for pkg in ("core", "peripherals", "debugger"):
        for path in sorted(glob.glob(os.path.join(HERE, pkg, "*.pyx"))):
            rel = os.path.relpath(path, HERE)
            name = rel[:-4].replace(os.sep, ".")
            exts.append(Extension(name, [rel], extra_compile_args=["-O2", "-Wno-unused-function"]))
    return exts


setup(ext_modules=cythonize(extensions(), compiler_directives=DIRECTIVES, quiet=True))
