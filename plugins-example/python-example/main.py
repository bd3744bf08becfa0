"""The package's entry: serves ``module.py`` with the SDK's runner, as
``python -m convotic_sdk run module.py`` would (see convotic-module.toml)."""

import sys

from convotic_sdk.__main__ import main

sys.exit(main(["run", "module.py"]))
