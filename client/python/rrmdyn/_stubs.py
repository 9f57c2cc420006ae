"""Imports the generated stubs, generating them first when they are missing
or older than proto/ (and protoc is available); see _generate.py."""

from . import _generate

if _generate.is_stale():
    try:
        _generate.generate()
    except (RuntimeError, OSError) as error:
        import os
        if not os.path.exists(os.path.join(_generate.DEFAULT_OUT, "dynamics_pb2.py")):
            raise ImportError("rrmdyn: the gRPC stubs in %s are missing and could not be generated: %s "
                              "(build the target rrmdyn_proto)" % (_generate.DEFAULT_OUT, error)) from error
        # Stale but present (e.g. a read-only install): use what is there.

from ._proto import dynamics_pb2 as pb  # noqa: E402
from ._proto import dynamics_pb2_grpc as pb_grpc  # noqa: E402
from ._proto import health_pb2  # noqa: E402
from ._proto import health_pb2_grpc  # noqa: E402

__all__ = ["pb", "pb_grpc", "health_pb2", "health_pb2_grpc"]
