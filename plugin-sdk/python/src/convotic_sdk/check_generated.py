"""``python -m convotic_sdk.check_generated``: fails (exit 1, naming the files) when the
committed ``convotic_sdk/_generated`` code does not match the repository's ``proto/`` files
compiled with the pinned grpcio-tools (see :mod:`convotic_sdk._codegen`)."""

import sys

from ._codegen import main_check

if __name__ == "__main__":
    sys.exit(main_check())
