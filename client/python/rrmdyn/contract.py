"""The client contract rrmdyn shares with rrmctl (client/cpp), tested from one
table, client/contract.json, by tests/python/test_contract.py and
tests/client/contract_test.cc: which gRPC codes a stream or wait retries,
the CLI's exit code for each code, and the --token_file grammar. (Puzzle ids
for the same file are the reader's, rrmdyn.puzzles.read_sudoku_file /
read_maze_file, checked against the same table.)"""

from typing import Dict, FrozenSet

# Codes after which a record stream or a wait is reopened: the server is down
# or restarting (UNAVAILABLE; also how a killed connection reads), or a server
# shutting down ended the call (CANCELLED / ABORTED without our asking).
RETRYABLE_CODES: FrozenSet[str] = frozenset({"UNAVAILABLE", "CANCELLED", "ABORTED"})

EXIT_OK, EXIT_OTHER, EXIT_USAGE, EXIT_UNAVAILABLE, EXIT_NOT_FOUND, EXIT_REFUSED = 0, 1, 2, 3, 4, 5

# The CLI's exit code for a failed call's gRPC code (rrmctl's ExitCode);
# any code not listed is EXIT_OTHER.
EXIT_CODES: Dict[str, int] = {
    "OK": EXIT_OK,
    "UNAVAILABLE": EXIT_UNAVAILABLE,
    "DEADLINE_EXCEEDED": EXIT_UNAVAILABLE,
    "NOT_FOUND": EXIT_NOT_FOUND,
    "INVALID_ARGUMENT": EXIT_REFUSED,
    "FAILED_PRECONDITION": EXIT_REFUSED,
    "PERMISSION_DENIED": EXIT_REFUSED,
    "UNAUTHENTICATED": EXIT_REFUSED,
    "ALREADY_EXISTS": EXIT_REFUSED,
    "OUT_OF_RANGE": EXIT_REFUSED,
    "RESOURCE_EXHAUSTED": EXIT_REFUSED,
}


def is_retryable(code: str) -> bool:
    """Whether a call that failed with gRPC code `code` (its name) may succeed against a restarted server."""
    return code in RETRYABLE_CODES


def exit_code(code: str) -> int:
    """The CLI's exit code for gRPC code `code` (its name)."""
    return EXIT_CODES.get(code, EXIT_OTHER)


class TokenFileError(ValueError):
    """A --token_file without a token (the CLI's usage error, exit 2)."""


def parse_token_file(text: str, path: str = "--token_file") -> str:
    """The bearer token of a --token_file's text: the first line that is
    neither blank nor a '#' comment; in the server's `name:token` form, the
    part after the first ':' (both stripped). TokenFileError when there is none."""
    for line in text.split("\n"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if ":" in line:
            line = line.split(":", 1)[1].strip()
        if line:
            return line
    raise TokenFileError("--token_file %s: expected a token, found none" % path)


def read_token_file(path: str) -> str:
    """parse_token_file of the file at `path` (OSError if it cannot be read)."""
    with open(path) as f:
        return parse_token_file(f.read(), path)
