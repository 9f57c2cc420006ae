"""Errors raised by rrmdyn: one class per gRPC status code the service uses.

Every error carries the server's message, which names the field, the
expected and the found value (e.g. ``puzzles.sudoku[0]: expected 81
characters, found 80``), plus the gRPC ``code`` name.
"""

import grpc


class RrmError(Exception):
    """Base class: `code` is the gRPC status code name, `details` the server's message."""

    exit_code = 1  # the CLI's exit code for this error (as rrmctl)

    def __init__(self, details, code="UNKNOWN"):
        super().__init__(details)
        self.details = details
        self.code = code

    def __str__(self):
        return "%s: %s" % (self.code, self.details)


class InvalidArgument(RrmError):
    exit_code = 5


class NotFound(RrmError):
    exit_code = 4


class AlreadyExists(RrmError):
    exit_code = 1


class PermissionDenied(RrmError):
    exit_code = 5


class Unauthenticated(PermissionDenied):
    """No or an unknown bearer token (a PermissionDenied, so one except catches both)."""


class FailedPrecondition(RrmError):
    exit_code = 5


class ResourceExhausted(RrmError):
    exit_code = 5


class Unavailable(RrmError):
    exit_code = 3


class Unimplemented(RrmError):
    exit_code = 1


class Cancelled(RrmError):
    exit_code = 1


class DeadlineExceeded(Unavailable):
    pass


class Internal(RrmError):
    exit_code = 1


_BY_CODE = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.UNIMPLEMENTED: Unimplemented,
    grpc.StatusCode.CANCELLED: Cancelled,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.INTERNAL: Internal,
}


def from_rpc_error(error):
    """Maps a grpc.RpcError to the matching RrmError subclass."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = error.details() if hasattr(error, "details") else str(error)
    cls = _BY_CODE.get(code, RrmError)
    return cls(details or "", code.name if code is not None else "UNKNOWN")
