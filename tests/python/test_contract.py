"""The client contract rrmdyn shares with rrmctl, from the one table
client/contract.json (tests/client/contract_test.cc checks rrmctl against the
same table): retryable codes, exit codes, the --token_file grammar, and the
puzzle ids of the same file."""

import json
import os
import subprocess
import sys

import grpc
import pytest

import rrmdyn
from rrmdyn import contract, errors, puzzles
from conftest import ROOT

TABLE = json.load(open(os.path.join(ROOT, "client", "contract.json")))


def test_table_names_every_grpc_code():
    assert sorted(row["code"] for row in TABLE["codes"]) == sorted(c.name for c in grpc.StatusCode)


@pytest.mark.parametrize("row", TABLE["codes"], ids=lambda row: row["code"])
def test_exit_code_and_retry_of_each_grpc_code(row):
    assert contract.exit_code(row["code"]) == row["exit"]
    assert contract.is_retryable(row["code"]) == row["retryable"]
    if row["code"] != "OK":
        class Failed:  # a grpc.RpcError's interface
            def code(self):
                return grpc.StatusCode[row["code"]]

            def details(self):
                return "the server's message"
        error = errors.from_rpc_error(Failed())
        assert (error.code, error.exit_code, error.retryable) == (row["code"], row["exit"], row["retryable"])


def test_cli_exit_code_names():
    assert TABLE["exit_codes"] == {"ok": contract.EXIT_OK, "other": contract.EXIT_OTHER, "usage": contract.EXIT_USAGE,
                                   "unavailable": contract.EXIT_UNAVAILABLE, "not_found": contract.EXIT_NOT_FOUND,
                                   "refused": contract.EXIT_REFUSED}


@pytest.mark.parametrize("row", TABLE["token_files"], ids=lambda row: repr(row["text"]))
def test_token_file_grammar(row, tmp_path):
    path = tmp_path / "token"
    path.write_text(row["text"])
    if row["token"] is None:
        with pytest.raises(contract.TokenFileError, match="expected a token, found none"):
            contract.read_token_file(str(path))
        # The CLI: a usage error, before any server is asked.
        done = subprocess.run([sys.executable, "-m", "rrmdyn", "--target", "127.0.0.1:1", "--token_file", str(path),
                               "models"], env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "client", "python")),
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == TABLE["exit_codes"]["usage"], done.stderr
    else:
        assert contract.read_token_file(str(path)) == row["token"]


@pytest.mark.parametrize("row", TABLE["puzzle_files"], ids=lambda row: "%s %s" % (row["kind"], row["ids"]))
def test_puzzle_ids_of_a_file(row, tmp_path):
    path = tmp_path / "puzzles.txt"
    path.write_text(row["text"])
    read = puzzles.read_sudoku_file if row["kind"] == "sudoku" else puzzles.read_maze_file
    assert read(str(path))[2] == row["ids"]


def test_submitted_records_carry_the_files_puzzle_ids(rrmd, tmp_path):
    row = next(r for r in TABLE["puzzle_files"] if r["kind"] == "sudoku")
    path = tmp_path / "sudoku.txt"
    path.write_text(row["text"])
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "client", "python"))
    cli = [sys.executable, "-m", "rrmdyn", "--target", rrmd.target]
    done = subprocess.run(cli + ["submit", "--model", "trm", "--sudoku", str(path), "--segments", "1", "--wait",
                                 "--quiet"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    records = rrmdyn.Client(rrmd.target).job(done.stdout.strip()).all_records()
    assert [r["puzzle_id"] for r in sorted(records, key=lambda r: r["example_index"])] == row["ids"]
