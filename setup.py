"""Map the top-level layer directories onto the ``twinbank`` import namespace.

The repository keeps ``core/``, ``adapters/``, ``simulator/`` and ``entrypoints/`` at
its top level; installed, they become ``twinbank.core`` and so on. Every other piece
of metadata lives in pyproject.toml.
"""

from setuptools import find_packages, setup

LAYERS = ("core", "adapters", "simulator", "entrypoints")

package_dir = {f"twinbank.{layer}": layer for layer in LAYERS}
packages = []
for layer in LAYERS:
    packages.append(f"twinbank.{layer}")
    packages.extend(f"twinbank.{layer}.{sub}" for sub in find_packages(where=layer))

setup(
    package_dir=package_dir,
    packages=packages,
    package_data={"twinbank.core": ["py.typed"], "twinbank.adapters": ["**/*.yaml"]},
)
