"""The one compiled part: the batch lane's C loop (shared/engine/_settle.c).

Everything else is in pyproject.toml. The extension is optional: where no C
compiler is found the install still succeeds, and sweeps run the same loop
in Python (slower, identical results; see shared/engine/settle_kernel.py).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension(
    "btfarm.shared.engine._settle", sources=["shared/engine/_settle.c"],
    extra_compile_args=["-O2", "-ffp-contract=off"],  # no fused multiply-add: PnL rounds as in Python
    optional=True,
)])
