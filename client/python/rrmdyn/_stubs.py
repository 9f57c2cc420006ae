"""The generated gRPC stubs, shipped in rrmdyn/_proto/ (written at build time
by client/python/generate_stubs.py; importing never runs protoc, so a
read-only site-packages works)."""

try:
    from ._proto import dynamics_pb2 as pb
    from ._proto import dynamics_pb2_grpc as pb_grpc
    from ._proto import health_pb2
    from ._proto import health_pb2_grpc
except ImportError as error:  # a source checkout that was never built
    raise ImportError("rrmdyn: the gRPC stubs rrmdyn/_proto/ are missing: build the target rrmdyn_proto "
                      "(cmake --build build --target rrmdyn_proto) or install the package "
                      "(pip install client/python): %s" % error) from error

__all__ = ["pb", "pb_grpc", "health_pb2", "health_pb2_grpc"]
