"""Errors raised by rrmdyn: one class per gRPC status code the service uses.

Every error carries the server's message, which names the field, the
expected and the found value (e.g. ``puzzles.sudoku[0]: expected 81
characters, found 80``), plus the gRPC ``code`` name; ``exit_code`` is the
CLI's exit code for it (rrmdyn.contract, as rrmctl).
"""

from typing import Any, Dict, Type

from . import contract


class RrmError(Exception):
    """Base class: `code` is the gRPC status code name, `details` the server's message."""

    default_code = "UNKNOWN"

    def __init__(self, details: str, code: str = "") -> None:
        super().__init__(details)
        self.details = details
        self.code = code or self.default_code

    @property
    def exit_code(self) -> int:
        """The CLI's exit code for this error (as rrmctl)."""
        return contract.exit_code(self.code)

    @property
    def retryable(self) -> bool:
        return contract.is_retryable(self.code)

    def __str__(self) -> str:
        return "%s: %s" % (self.code, self.details)


class InvalidArgument(RrmError):
    default_code = "INVALID_ARGUMENT"


class NotFound(RrmError):
    default_code = "NOT_FOUND"


class AlreadyExists(RrmError):
    default_code = "ALREADY_EXISTS"


class PermissionDenied(RrmError):
    default_code = "PERMISSION_DENIED"


class Unauthenticated(PermissionDenied):
    """No or an unknown bearer token (a PermissionDenied, so one except catches both)."""

    default_code = "UNAUTHENTICATED"


class FailedPrecondition(RrmError):
    default_code = "FAILED_PRECONDITION"


class ResourceExhausted(RrmError):
    default_code = "RESOURCE_EXHAUSTED"


class Unavailable(RrmError):
    default_code = "UNAVAILABLE"


class Unimplemented(RrmError):
    default_code = "UNIMPLEMENTED"


class Cancelled(RrmError):
    default_code = "CANCELLED"


class DeadlineExceeded(Unavailable):
    default_code = "DEADLINE_EXCEEDED"


class Internal(RrmError):
    default_code = "INTERNAL"


_BY_CODE: Dict[str, Type[RrmError]] = {
    "INVALID_ARGUMENT": InvalidArgument,
    "OUT_OF_RANGE": InvalidArgument,
    "NOT_FOUND": NotFound,
    "ALREADY_EXISTS": AlreadyExists,
    "PERMISSION_DENIED": PermissionDenied,
    "UNAUTHENTICATED": Unauthenticated,
    "FAILED_PRECONDITION": FailedPrecondition,
    "RESOURCE_EXHAUSTED": ResourceExhausted,
    "UNAVAILABLE": Unavailable,
    "UNIMPLEMENTED": Unimplemented,
    "CANCELLED": Cancelled,
    "DEADLINE_EXCEEDED": DeadlineExceeded,
    "INTERNAL": Internal,
}


def code_name(error: Any) -> str:
    """The gRPC code name of a grpc.RpcError (sync or aio), "UNKNOWN" without one."""
    code = error.code() if hasattr(error, "code") else None
    return code.name if code is not None else "UNKNOWN"


def from_rpc_error(error: Any) -> RrmError:
    """Maps a grpc.RpcError (sync or aio) to the matching RrmError subclass."""
    code = code_name(error)
    details = error.details() if hasattr(error, "details") else str(error)
    return _BY_CODE.get(code, RrmError)(details or "", code)
