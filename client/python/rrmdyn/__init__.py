"""rrmdyn: the Python client of rrm-dynamics (rrmd, proto/rrm/v1/dynamics.proto).

    import rrmdyn
    client = rrmdyn.Client("127.0.0.1:50051")
    job = client.submit("trm", sudoku_strings, segments=16, lyapunov_k=4)
    job.wait()                       # a tqdm.auto progress bar (terminal or Jupyter)
    frame = job.to_pandas()          # one row per record (SPEC §4)
    job.provenance                   # model, checkpoint sha256, config, options, versions

Several servers: rrmdyn.ShardedClient("a:50051,b:50051") (or rrmdyn.connect,
which picks Client or ShardedClient from the target) shards a study over them.
asyncio: rrmdyn.aio.Client, the same API awaited.

`rrmdyn.plots` draws the SPEC §5 figures; rrmdyn.compare([job_a, job_b])
puts several jobs' analyses side by side (table, HTML); `python3 -m rrmdyn
--help` (or the `rrmdyn` command of an installed package) is the CLI.

Modules, each importing only those before it: contract, errors, datatypes,
targets, puzzles, requests, records, progress, client, sharding, aio, compare
(which imports analysis, plots and matplotlib only when drawing).
"""

from ._version import __version__  # noqa: F401
from .errors import (AlreadyExists, Cancelled, DeadlineExceeded, FailedPrecondition, Internal,  # noqa: F401
                     InvalidArgument, NotFound, PermissionDenied, ResourceExhausted, RrmError, Unauthenticated,
                     Unavailable, Unimplemented)
from .datatypes import FINAL_STATES, JobState, JobStatus, ModelInfo, Provenance, Report  # noqa: F401
from .targets import Target, expand_targets  # noqa: F401
from .requests import split_puzzles, submit_request  # noqa: F401
from .records import read_jsonl, read_provenance, to_dataframe, write_csv, write_jsonl  # noqa: F401
from .client import Client, Job  # noqa: F401
from .sharding import ShardedClient, ShardedJob, connect, open_job  # noqa: F401
from . import aio  # noqa: F401,E402
from .compare import Comparison, compare  # noqa: F401,E402

__all__ = ["__version__", "Client", "Job", "ShardedClient", "ShardedJob", "connect", "open_job", "aio",
           "JobState", "JobStatus", "ModelInfo", "Provenance", "Report", "FINAL_STATES",
           "RrmError", "InvalidArgument", "NotFound", "PermissionDenied", "Unauthenticated", "Unavailable",
           "FailedPrecondition", "ResourceExhausted", "AlreadyExists", "Unimplemented", "Cancelled",
           "DeadlineExceeded", "Internal",
           "read_jsonl", "write_jsonl", "write_csv", "read_provenance", "to_dataframe",
           "Target", "expand_targets", "split_puzzles", "submit_request", "compare", "Comparison"]
