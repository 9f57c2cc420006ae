"""rrmdyn: the Python client of rrm-dynamics (rrmd, proto/rrm/v1/dynamics.proto).

    import rrmdyn
    client = rrmdyn.Client("127.0.0.1:50051")
    job = client.submit("trm", sudoku_strings, segments=16, lyapunov_k=4)
    job.wait()
    frame = job.to_pandas()          # one row per record (SPEC §4)

Several servers: rrmdyn.ShardedClient("a:50051,b:50051") (or rrmdyn.connect,
which picks Client or ShardedClient from the target) shards a study over them.

`rrmdyn.plots` draws the SPEC §5 figures; `python3 -m rrmdyn --help` is the CLI.
"""

from .errors import (AlreadyExists, Cancelled, DeadlineExceeded, FailedPrecondition, Internal,  # noqa: F401
                     InvalidArgument, NotFound, PermissionDenied, ResourceExhausted, RrmError, Unauthenticated,
                     Unavailable, Unimplemented)
from .client import Client, Job, FINAL_STATES  # noqa: F401
from .records import read_jsonl, to_dataframe, write_jsonl  # noqa: F401
from .sharding import ShardedClient, ShardedJob, Target, connect, expand_targets, split_puzzles  # noqa: F401

__all__ = ["Client", "Job", "RrmError", "InvalidArgument", "NotFound", "PermissionDenied", "Unauthenticated",
           "Unavailable", "FailedPrecondition", "ResourceExhausted", "AlreadyExists", "Unimplemented", "Cancelled",
           "DeadlineExceeded", "Internal", "read_jsonl", "write_jsonl", "to_dataframe", "FINAL_STATES",
           "ShardedClient", "ShardedJob", "Target", "connect", "expand_targets", "split_puzzles"]
