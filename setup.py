"""The one compiled part: the batch lane's C loop (shared/engine/_batch_kernel.c).

Everything else is in pyproject.toml. The extension is optional: where no C
compiler is found the install still succeeds, and sweeps run the same loop
in Python (slower, identical results; see shared/engine/batch_kernel.py).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "btfarm.shared.engine._batch_kernel",
            sources=["shared/engine/_batch_kernel.c"],
            extra_compile_args=[
                "-O3",
                "-ffp-contract=off",
            ],  # no fused multiply-add: PnL rounds as in Python
            optional=True,
        )
    ]
)
