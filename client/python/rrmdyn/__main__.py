"""python3 -m rrmdyn: the rrmd command line from Python (mirrors rrmctl).

Exit codes (as rrmctl): 0 ok, 1 other (submit --wait: the job did not
succeed), 2 usage, 3 rrmd unavailable, 4 not found (job, model, local file),
5 refused (invalid argument, failed precondition, permission, authentication,
resource exhausted; the server's message is printed).

Several servers (--target a:50051,b:50051, or all:NAME:50051 = every address
NAME resolves to): submit shards the study over them and prints the sharded
job id TARGET/JOB,TARGET/JOB,...; status, cancel, records (merged, no --from),
report and plot take that id without --target; health, models and jobs run on
every server.
"""

import argparse
import json
import os
import sys

DEFAULT_TARGET = "127.0.0.1:50051"


class CliError(Exception):
    """Exits with `exit_code`, printing the message."""

    exit_code = 1

    def __init__(self, message, exit_code=None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(CliError):
    """Exit 2, as rrmctl: a bad flag value or an unreadable --token_file."""

    exit_code = 2


def _settings(args):
    """Client keyword arguments from the connection flags (every server the same)."""
    from . import contract
    token = args.token or os.environ.get("RRM_TOKEN")
    if args.token_file:
        # rrmctl's grammar (rrmdyn.contract); a missing or empty file is a usage error.
        try:
            token = contract.read_token_file(args.token_file)
        except (OSError, contract.TokenFileError) as error:
            raise UsageError("--token_file: %s" % error if isinstance(error, OSError) else str(error)) from None
    tls = args.tls_ca if args.tls_ca else (True if args.tls else None)
    return dict(token=token, tls=tls, retry_seconds=args.retry_seconds)


def _targets(args):
    """--target expanded (as rrmctl: a malformed spec is a usage error, a name
    that does not resolve exit 3)."""
    import rrmdyn
    try:
        return rrmdyn.expand_targets(args.target)
    except rrmdyn.InvalidArgument as error:
        raise UsageError(error.details) from None
    except rrmdyn.NotFound as error:
        raise CliError(str(error), 3) from None


def _connect(args, target):
    import rrmdyn
    return rrmdyn.Client(target.address, tls_server_name=target.tls_name or None, **_settings(args))


def _each_server(args, run):
    """run(client) on every --target server ("# ADDRESS" before each when
    several); the exit code is the first failure's, as rrmctl."""
    import rrmdyn
    targets = _targets(args)
    if len(targets) == 1:
        return run(_connect(args, targets[0]))
    exit_code = 0
    for target in targets:
        print("# " + target.address)
        sys.stdout.flush()
        try:
            code = run(_connect(args, target))
        except rrmdyn.RrmError as error:
            print("rrmdyn: %s" % error, file=sys.stderr)
            code = error.exit_code
        exit_code = exit_code or code
    return exit_code


def _job(args):
    """JOB of status/cancel/records/report/plot: a sharded id (TARGET/JOB,...;
    --target not used) or a job of the one --target server."""
    import rrmdyn
    from rrmdyn.targets import is_sharded_id, parse_sharded_id
    if is_sharded_id(args.job):
        try:
            parse_sharded_id(args.job)
        except rrmdyn.InvalidArgument as error:
            raise UsageError(error.details) from None
        return rrmdyn.ShardedClient([], **_settings(args)).job(args.job)
    targets = _targets(args)
    if len(targets) > 1:
        raise UsageError("%s: a job id names a job of one server; with several --target servers, give the sharded "
                         "job's id (TARGET/JOB,...)" % args.command)
    return _connect(args, targets[0]).job(args.job)


def _print_json(obj, out=None):
    (out or sys.stdout).write(json.dumps(obj, indent=2, sort_keys=False) + "\n")


def _records_for(args):
    """JOB is a job id on rrmd (or a sharded job's id), or a local JSONL file of records."""
    import rrmdyn
    if os.path.isfile(args.job):
        return rrmdyn.read_jsonl(args.job), None
    job = _job(args)
    return list(job.records()), job


def cmd_health(args):
    def health(client):
        name = client.health()
        print(name)
        return 0 if name == "SERVING" else 3
    return _each_server(args, health)


def cmd_models(args):
    def models(client):
        for m in client.models():
            _print_json(m.to_dict())
        return 0
    return _each_server(args, models)


def cmd_submit(args):
    import rrmdyn
    targets = _targets(args)
    # One server: a plain job; several: the study sharded over them.
    client = _connect(args, targets[0]) if len(targets) == 1 else rrmdyn.ShardedClient(targets, **_settings(args))
    kwargs = dict(segments=args.segments, lyapunov_k=args.lyapunov_k, seed=args.seed,
                  tangent_dtype=args.tangent_dtype, restarts=args.restarts, restart_kind=args.restart_kind,
                  restart_sigma=args.restart_sigma, batch_size=args.batch_size, priority=args.priority,
                  lyapunov_draws=args.lyapunov_draws, lyapunov_method=args.lyapunov_method,
                  early_window=args.early_window, energy_map_directions=args.energy_map_directions,
                  deadline_seconds=args.job_deadline_seconds,
                  idempotency_key=args.idempotency_key,
                  job_labels=dict(kv.split("=", 1) for kv in args.label))
    sources = [x for x in (args.sudoku, args.maze, args.data, args.server_data) if x]
    if len(sources) != 1:
        print("submit: give exactly one of --sudoku FILE, --maze FILE, --data DIR, --server_data PATH",
              file=sys.stderr)
        return 2
    if args.sudoku or args.maze:
        kind = "sudoku" if args.sudoku else "maze"
        read = rrmdyn.puzzles.read_sudoku_file if args.sudoku else rrmdyn.puzzles.read_maze_file
        puzzles, solutions, ids = read(args.sudoku or args.maze)
        if args.limit:
            puzzles, ids = puzzles[:args.limit], ids[:args.limit]
            solutions = solutions[:args.limit] if solutions else None
        job = client.submit(args.model, puzzles, kind=kind, solutions=solutions, ids=ids, **kwargs)
    elif args.data:
        job = client.submit(args.model, args.data, limit=args.limit, **kwargs)
    else:
        job = client.submit(args.model, dataset_path=args.server_data, limit=args.limit, **kwargs)
    print(job.job_id)
    sys.stdout.flush()
    if args.wait or args.out:
        final = job.wait(progress=not args.quiet)
        if args.out:
            job.write_jsonl(args.out)  # and the provenance sidecar OUT.provenance.json
        if final.state != rrmdyn.JobState.SUCCEEDED:
            print("job %s ended %s %s" % (job.job_id, final.state, final.error), file=sys.stderr)
            return 1
    return 0


def cmd_status(args):
    import rrmdyn
    job = _job(args)
    parts = None
    if args.wait:
        status = job.wait(progress=not args.quiet)
    elif isinstance(job, rrmdyn.ShardedJob):
        status, parts = job.status_and_parts()
    else:
        status = job.status()
    if args.json:
        _print_json(status.to_dict())
    else:
        print("%s %s %d/%d records (%d failed) model=%s%s" % (
            status.job_id, status.state.short, status.records_stored, status.total_records, status.records_failed,
            status.model, (" error=" + status.error) if status.error else ""))
        if isinstance(job, rrmdyn.ShardedJob):
            for i, (part, part_status) in enumerate(zip(job.jobs, parts or job.parts()), 1):
                print("part %d: %s/%s %s %d/%d" % (i, part.client.target, part.job_id, part_status.state.short,
                                                   part_status.records_stored, part_status.total_records))
    return 0


def cmd_jobs(args):
    def jobs(client):
        for j in client.jobs(args.state):
            print("%s %s %d/%d %s" % (j.job_id, j.state.short, j.records_stored, j.total_records, j.model))
        return 0
    return _each_server(args, jobs)


def cmd_records(args):
    import rrmdyn
    from rrmdyn.targets import is_sharded_id
    if args.from_index and is_sharded_id(args.job):
        raise UsageError("--from: a sharded job's records are merged from several streams and have no single "
                         "stream index; expected 0, found %d" % args.from_index)
    job = _job(args)
    out = open(args.out, "w") if args.out else sys.stdout
    try:
        for record in job.records(from_index=args.from_index):
            out.write(json.dumps(record, separators=(",", ":")) + "\n")
            out.flush()
    finally:
        if args.out:
            out.close()
    if args.out:  # the provenance beside the file (rrmdyn.records)
        rrmdyn.records.write_provenance_sidecar(args.out, job.provenance)
    return 0


def cmd_cancel(args):
    status = _job(args).cancel()
    print("%s %s" % (status.job_id, status.state.short))
    return 0


def cmd_plot(args):
    from . import plots
    records, _ = _records_for(args)
    report = None
    paths = plots.save_all(records, args.out, report=report)
    for p in paths:
        print(p)
    return 0


def _parameters(args):
    """The report's AnalysisParameters from rrmctl's flags and --param NAME=VALUE."""
    out = {}
    for name in ("tau", "early_window", "displacement_bins", "lyapunov_method", "restarts"):
        value = getattr(args, name)
        if value not in (None, ""):
            out[name] = value
    if args.bootstrap is not None and args.bootstrap >= 0:
        out["bootstrap"] = args.bootstrap
    if args.bootstrap_seed:
        out["seed"] = args.bootstrap_seed
    for kv in args.param:
        if "=" not in kv:
            raise UsageError("--param: expected NAME=VALUE, found %r" % kv)
        k, v = kv.split("=", 1)
        out[k] = v
    return out


def _compare_report(args):
    """report JOB_A JOB_B ...: the jobs side by side (rrmdyn.compare)."""
    from .compare import compare
    from . import report as report_module
    jobs = [_job(argparse.Namespace(**dict(vars(args), job=job_id))) for job_id in [args.job] + args.more]
    comparison = compare(jobs, **_parameters(args))
    if args.html:
        comparison.to_html(args.html, title="rrm-dynamics comparison: jobs %s" % ", ".join(j.job_id for j in jobs))
        print(args.html)
    elif args.json:
        sys.stdout.write(json.dumps({"jobs": [j.job_id for j in jobs],
                                     "reports": {j.job_id: json.loads(report_module.to_json(r))
                                                 for j, r in zip(jobs, comparison.reports.values())}},
                                    indent=2) + "\n")
    else:
        for name, report in comparison.reports.items():
            if report.get("note"):
                print("note: %s: %s" % (name, report["note"]), file=sys.stderr)
        sys.stdout.write(comparison.to_text())
    return 0


def cmd_report(args):
    from . import report as report_module
    if args.more:
        return _compare_report(args)
    job = _job(args)
    report = job.report(**_parameters(args))
    if args.html:
        records = list(job.records())
        page = report_module.to_html(report, records, title="rrm-dynamics report: job %s" % job.job_id,
                                     provenance=job.provenance)
        with open(args.html, "w") as f:
            f.write(page)
        print(args.html)
    elif args.json:
        sys.stdout.write(report_module.to_json(report) + "\n")
    else:
        if report.get("note"):
            print("note: " + report["note"], file=sys.stderr)
        sys.stdout.write(report.get("table") or report_module.to_json(report) + "\n")
    return 0


def build_parser():
    # The installed `rrmdyn` command or `python3 -m rrmdyn`.
    prog = "rrmdyn" if os.path.basename(sys.argv[0]) == "rrmdyn" else "python3 -m rrmdyn"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    parser.add_argument("--target", default=os.environ.get("RRM_TARGET", DEFAULT_TARGET),
                        help="rrmd address host:port; several, comma-separated (all:HOST:PORT = every address "
                             "HOST resolves to), shard a submitted job over them (env RRM_TARGET; default "
                             "%(default)s)")
    parser.add_argument("--token", default=None, help="bearer token for rrmd --auth_tokens (env RRM_TOKEN)")
    parser.add_argument("--token_file", default=None, help="file holding the bearer token")
    parser.add_argument("--tls", action="store_true", help="TLS with the system's root certificates")
    parser.add_argument("--tls_ca", default=None, help="PEM CA certificate for TLS (implies --tls)")
    parser.add_argument("--retry_seconds", type=float, default=60.0,
                        help="how long a record stream keeps reconnecting (default %(default)s)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("health", help="prints SERVING (exit 0) or fails with 3")
    p.set_defaults(fn=cmd_health)

    p = sub.add_parser("models", help="list the loaded models")
    p.set_defaults(fn=cmd_models)

    p = sub.add_parser("submit", help="submit a job; prints its id")
    p.add_argument("--model", required=True)
    p.add_argument("--sudoku", metavar="FILE", help="81-character lines (,solution optional) or upstream CSV")
    p.add_argument("--maze", metavar="FILE", help="n x n grids over '# SGo', blank-line separated")
    p.add_argument("--data", metavar="DIR", help="local upstream dataset folder (root: test/), sent as tokens")
    p.add_argument("--server_data", "--dataset_path", dest="server_data", metavar="PATH",
                   help="dataset folder on the server (under its --data_root)")
    p.add_argument("--limit", type=int, default=0, help="first N puzzles only (0 = all)")
    p.add_argument("--segments", type=int, default=0, help="T (0 = the checkpoint's halt_max_steps)")
    p.add_argument("--lyapunov_k", type=int, default=0, help="top-k Lyapunov exponents (0 = trajectory only)")
    p.add_argument("--lyapunov_draws", type=int, default=0)
    p.add_argument("--lyapunov_method", default="", help="qr (default) | propagator")
    p.add_argument("--early_window", type=int, default=0)
    p.add_argument("--energy_map_directions", type=int, default=0,
                   help="energy maps of the top n directions per puzzle position (0 = off)")
    p.add_argument("--job_deadline_seconds", type=int, default=0,
                   help="the job fails this many seconds after submission, records kept (0 = none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tangent_dtype", default="", help="float32 (default) | float64")
    p.add_argument("--restarts", type=int, default=1, help="runs per puzzle R")
    p.add_argument("--restart_kind", default="none", help="none | symmetry | init_noise | step_noise")
    p.add_argument("--restart_sigma", type=float, default=0.0)
    p.add_argument("--batch_size", type=int, default=0)
    p.add_argument("--priority", type=int, default=0)
    p.add_argument("--label", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--idempotency_key", default="")
    p.add_argument("--wait", action="store_true", help="wait for the job (progress on stderr)")
    p.add_argument("--out", metavar="FILE", help="wait, then write the records as JSONL (provenance: FILE.provenance.json)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(fn=cmd_submit)

    p = sub.add_parser("status", help="a job's state and progress")
    p.add_argument("job")
    p.add_argument("--json", action="store_true", help="the whole Job message as JSON")
    p.add_argument("--wait", action="store_true", help="wait until the job ends")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(fn=cmd_status)

    p = sub.add_parser("jobs", help="list jobs")
    p.add_argument("--state", default=None, help="queued | running | succeeded | failed | cancelled")
    p.set_defaults(fn=cmd_jobs)

    p = sub.add_parser("records", help="stream a job's records as JSONL (follows a running job, resumes)")
    p.add_argument("job")
    p.add_argument("--from", dest="from_index", type=int, default=0, help="first stream index")
    p.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    p.set_defaults(fn=cmd_records)

    p = sub.add_parser("cancel", help="cancel a job (its stored records stay)")
    p.add_argument("job")
    p.set_defaults(fn=cmd_cancel)

    p = sub.add_parser("plot", help="write the plots of a job (or a records .jsonl file) as PNGs")
    p.add_argument("job", help="job id, or a local JSONL file of records")
    p.add_argument("--out", required=True, metavar="DIR")
    p.set_defaults(fn=cmd_plot)

    p = sub.add_parser("report", help="the SPEC §5 report (Analyze RPC): table, --json, --html; several jobs: "
                                      "side by side (rrmdyn.compare)")
    p.add_argument("job")
    p.add_argument("more", nargs="*", metavar="JOB", help="more jobs: compare them side by side, one column each")
    p.add_argument("--html", metavar="FILE", help="one self-contained HTML page: tables + plots (base64 PNGs)")
    p.add_argument("--json", action="store_true", help="print the report JSON (docs/analysis.md) instead of the table")
    p.add_argument("--tau", type=float, default=None, help="settling threshold on d_T (default: p95 of successes)")
    p.add_argument("--early_window", type=int, default=None, help="early window w (default 4)")
    p.add_argument("--bootstrap", type=int, default=-1, help="replicates per CI (-1 = 1000; 0 = no CIs)")
    p.add_argument("--bootstrap_seed", type=int, default=0)
    p.add_argument("--displacement_bins", type=int, default=None, help="d_T quantile bins (default 10)")
    p.add_argument("--restarts", type=int, default=None, help="runs per puzzle for the restart analysis")
    p.add_argument("--lyapunov_method", default=None, help="qr | propagator")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="any AnalysisParameters field")
    p.set_defaults(fn=cmd_report)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on usage errors
    try:
        import rrmdyn
    except ImportError as error:
        print("rrmdyn: %s" % error, file=sys.stderr)
        return 1
    try:
        return args.fn(args)
    except CliError as error:
        print("rrmdyn: %s" % error, file=sys.stderr)
        return error.exit_code
    except rrmdyn.RrmError as error:
        print("rrmdyn: %s" % error, file=sys.stderr)
        return error.exit_code
    except FileNotFoundError as error:
        print("rrmdyn: NOT_FOUND: %s" % error, file=sys.stderr)
        return 4
    except ValueError as error:
        # Puzzles or flags refused before anything was sent.
        print("rrmdyn: INVALID_ARGUMENT: %s" % error, file=sys.stderr)
        return 5
    except OSError as error:
        print("rrmdyn: %s" % error, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
