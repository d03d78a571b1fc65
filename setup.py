"""Which packages the wheel holds (everything else is in pyproject.toml).

- `coreset_core` and its subpackages, found automatically.
- `coreset_studio_app`: the studio's files, which stay at the repository root for
  `streamlit run app.py`: the package is mapped onto "." and takes only app.py from there
  (no other root script), pages/*.py as `coreset_studio_app.pages`, and .streamlit/config.toml
  (package-data in pyproject.toml). `coreset-studio` runs that copy when there is no checkout.
"""
from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

STUDIO = "coreset_studio_app"


class StudioBuildPy(build_py):
    """build_py that takes only app.py from the repository root into `coreset_studio_app`."""

    def find_package_modules(self, package, package_dir):
        modules = super().find_package_modules(package, package_dir)
        return [m for m in modules if m[1] == "app"] if package == STUDIO else modules


setup(
    packages=[*find_packages(include=["coreset_core", "coreset_core.*"]), STUDIO, f"{STUDIO}.pages"],
    package_dir={STUDIO: "."},
    cmdclass={"build_py": StudioBuildPy},
)
