"""The compiled parts: the batch lane's C loop (shared/engine/_batch_kernel.c) and the event
lane's loop over a hooked position's candles (shared/engine/_hook_loop.c).

Everything else is in pyproject.toml. The extensions are optional: where no C
compiler is found the install still succeeds, and the same loops run
in Python (slower, identical results; see shared/engine/batch_kernel.py).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            f"btfarm.shared.engine.{name}",
            sources=[f"shared/engine/{name}.c"],
            extra_compile_args=[
                "-O3",
                "-ffp-contract=off",
            ],  # no fused multiply-add: PnL rounds as in Python
            optional=True,
        )
        for name in ("_batch_kernel", "_hook_loop")
    ]
)
