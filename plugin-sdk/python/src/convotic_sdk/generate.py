"""``python -m convotic_sdk.generate``: regenerates ``convotic_sdk/_generated`` from the
repository's ``proto/`` files with grpcio-tools (see :mod:`convotic_sdk._codegen`)."""

import sys

from ._codegen import main_generate

if __name__ == "__main__":
    sys.exit(main_generate())
