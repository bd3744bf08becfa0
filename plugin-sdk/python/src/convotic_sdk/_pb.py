"""Short names for the generated protobuf/gRPC modules (``convotic_sdk._generated``, produced
from the repository's ``proto/`` files; see :mod:`convotic_sdk._codegen`)."""

from ._generated.convotic.host.v1 import host_pb2 as host
from ._generated.convotic.host.v1 import host_pb2_grpc as host_grpc
from ._generated.convotic.plugin.v1 import manifest_pb2 as manifest
from ._generated.convotic.plugin.v1 import plugin_pb2 as plugin
from ._generated.convotic.plugin.v1 import plugin_pb2_grpc as plugin_grpc
from ._generated.convotic.plugin.v1 import work_pb2 as work

__all__ = ["host", "host_grpc", "manifest", "plugin", "plugin_grpc", "work"]

#: Fully qualified name of the Plugin service (also reported to the health service).
PLUGIN_SERVICE_NAME = "convotic.plugin.v1.Plugin"

#: Metadata key of the instance token on every Host call.
TOKEN_METADATA_KEY = "x-convotic-plugin-token"

#: Largest gRPC message either side sends or accepts (docs/PROTOCOL.md §2).
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
