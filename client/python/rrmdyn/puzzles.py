"""Turns what a researcher has at hand into an rrm.v1.PuzzleInput.

- a list of 81-character Sudoku strings ('.' or '0' blank)  -> PuzzleInput.sudoku
- a list of Maze grids (n rows of n characters over "# SGo", '\n' between rows)
                                                            -> PuzzleInput.maze
- a 2-D integer NumPy array or a list of token arrays (length seq_len)
                                                            -> PuzzleInput.tokens
- a path to a local upstream dataset folder (dataset.json + all__*.npy; a root
  folder means its test/ split), read here with NumPy      -> PuzzleInput.tokens
A folder on the *server* (under rrmd --data_root) is sent by name with
`dataset_path=` instead (see Client.submit).
"""

import json
import math
import os
from typing import Any, List, Optional, Tuple

import numpy as np

_SUDOKU_CHARS = set("0123456789.")
_MAZE_CHARS = set("# SGo\n")


def _is_sudoku(s: str) -> bool:
    return len(s) == 81 and set(s) <= _SUDOKU_CHARS


def guess_kind(strings: List[str]) -> str:
    if all(_is_sudoku(s) for s in strings):
        return "sudoku"
    if all(set(s) <= _MAZE_CHARS for s in strings):
        return "maze"
    bad = next(s for s in strings if not _is_sudoku(s))
    raise ValueError("puzzles: expected 81-character Sudoku strings ('.' or '0' blank) or Maze grids over "
                     "'# SGo', found %r (pass kind='sudoku' or kind='maze' to let the server say what is wrong)"
                     % (bad[:100],))


def read_sudoku_file(path: str) -> Tuple[List[str], Optional[List[str]], List[str]]:
    """(puzzles, solutions or None, ids) of a Sudoku file: 81-character lines
    ('.'/'0' blank), optionally ',solution'; or the upstream CSV
    `source,question,answer,rating` (header skipped). ids as rrmctl's reader
    (core/puzzle/puzzle_set.h) gives them: the CSV source, else "line N"
    (client/contract.json)."""
    puzzles, solutions, ids = [], [], []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#") or line.startswith("source,"):
                continue
            fields = [x.strip() for x in line.split(",")]
            if len(fields) >= 3:
                ids.append(fields[0] or "line %d" % number)
                puzzles.append(fields[1])
                solutions.append(fields[2])
            else:
                ids.append("line %d" % number)
                puzzles.append(fields[0])
                solutions.append(fields[1] if len(fields) > 1 else "")
    if not any(solutions):
        return puzzles, None, ids
    if not all(solutions):
        raise ValueError("%s: some lines have a solution and some not; expected all or none" % path)
    return puzzles, solutions, ids


def read_maze_file(path: str) -> Tuple[List[str], Optional[List[str]], List[str]]:
    """(puzzles, solutions or None, ids) of a Maze file: n×n grids over '# SGo'
    separated by empty lines; a grid with 'o' is the solution of the grid
    before it. ids as rrmctl's reader: "line N", N the question grid's first line."""
    grids: List[Tuple[int, str]] = []
    current: List[str] = []
    first = 0
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if line == "":  # a line of spaces is a grid row (as core/puzzle/puzzle_set.h)
                if current:
                    grids.append((first, "\n".join(current)))
                    current = []
            else:
                if not current:
                    first = number
                current.append(line)
    if current:
        grids.append((first, "\n".join(current)))
    puzzles: List[str] = []
    solutions: List[str] = []
    ids: List[str] = []
    for number, g in grids:
        if "o" in g and puzzles and len(solutions) < len(puzzles):
            solutions.append(g)
        else:
            if solutions and len(solutions) < len(puzzles):
                raise ValueError("%s: grid %d has no solution while others do" % (path, len(puzzles)))
            puzzles.append(g)
            ids.append("line %d" % number)
    if solutions and len(solutions) != len(puzzles):
        raise ValueError("%s: %d grids but %d solutions" % (path, len(puzzles), len(solutions)))
    return puzzles, solutions or None, ids


def dataset_kind(path: str) -> str:
    """"sudoku", "maze" or "tokens" for an upstream dataset folder, by its
    dataset.json as the core's reader decides (KindFromMetadata): seq_len 81
    with vocab 11 is Sudoku, a square seq_len with vocab 6 a maze."""
    folder = path if os.path.exists(os.path.join(path, "dataset.json")) else os.path.join(path, "test")
    with open(os.path.join(folder, "dataset.json")) as f:
        meta = json.load(f)
    seq_len, vocab = int(meta.get("seq_len", 0)), int(meta.get("vocab_size", 0))
    if seq_len == 81 and vocab == 11:
        return "sudoku"
    side = int(round(math.sqrt(seq_len))) if seq_len > 0 else 0
    return "maze" if vocab == 6 and side * side == seq_len else "tokens"


def read_dataset(path: str, limit: int = 0) -> Tuple[Any, Any, Any, List[str]]:
    """Reads an upstream puzzle-dataset folder: returns (inputs, labels, puzzle_identifiers, ids).

    `path` is a split folder (holding dataset.json) or a root whose test/ split
    is used, as rrm-measure --data. `limit` > 0 keeps the first `limit` examples.
    """
    folder = path
    if not os.path.exists(os.path.join(folder, "dataset.json")) and os.path.exists(
            os.path.join(folder, "test", "dataset.json")):
        folder = os.path.join(folder, "test")
    meta_path = os.path.join(folder, "dataset.json")
    if not os.path.exists(meta_path):
        raise ValueError("dataset %s: expected dataset.json (or test/dataset.json), found none" % path)
    with open(meta_path) as f:
        meta = json.load(f)
    sets = meta.get("sets") or ["all"]
    input_parts: List[Any] = []
    label_parts: List[Any] = []
    identifier_parts: List[Any] = []
    for name in sets:
        def load(kind: str) -> Any:
            file = os.path.join(folder, "%s__%s.npy" % (name, kind))
            if not os.path.exists(file):
                raise ValueError("dataset %s: expected %s, found none" % (path, file))
            return np.load(file)
        x = load("inputs")
        y = load("labels")
        pid = load("puzzle_identifiers")
        pidx = load("puzzle_indices")
        # Example i belongs to puzzle p with puzzle_indices[p] <= i < puzzle_indices[p+1].
        owner = np.searchsorted(pidx, np.arange(len(x)), side="right") - 1
        owner = np.clip(owner, 0, len(pid) - 1)
        input_parts.append(x)
        label_parts.append(y)
        identifier_parts.append(pid[owner])
    inputs = np.concatenate(input_parts)
    labels = np.concatenate(label_parts)
    identifiers = np.concatenate(identifier_parts)
    ignore = meta.get("ignore_label_id")
    if ignore is not None and ignore != -100:
        labels = np.where(labels == ignore, -100, labels)  # TokenPuzzle: -100 = not scored
    if limit and limit > 0:
        inputs, labels, identifiers = inputs[:limit], labels[:limit], identifiers[:limit]
    ids = [str(i) for i in range(len(inputs))]
    return inputs, labels, identifiers, ids


def build(pb: Any, puzzles: Any, kind: Optional[str] = None, solutions: Any = None, labels: Any = None,
          ids: Any = None, puzzle_identifiers: Any = None, dataset_path: Any = None, limit: int = 0) -> Any:
    """Returns an rrm.v1.PuzzleInput for Client.submit (see the module docstring)."""
    out = pb.PuzzleInput()
    if dataset_path is not None:
        out.dataset_path = str(dataset_path)
        out.limit = int(limit or 0)
        return out
    if puzzles is None:
        raise ValueError("puzzles: expected a list of strings, token arrays, a NumPy array or a dataset folder, "
                         "found None")
    if isinstance(puzzles, (str, os.PathLike)) and os.path.isdir(puzzles):
        inputs, ds_labels, ds_ids, ds_names = read_dataset(os.fspath(puzzles), limit)
        out = build(pb, inputs, kind="tokens", labels=ds_labels if labels is None else labels,
                    ids=ds_names if ids is None else ids,
                    puzzle_identifiers=ds_ids if puzzle_identifiers is None else puzzle_identifiers)
        # The tokens say what they are (the server checks it), so a Sudoku
        # folder keeps its givens and symmetry restarts.
        out.tokens.kind = dataset_kind(os.fspath(puzzles))
        return out
    if isinstance(puzzles, str):
        puzzles = [puzzles]
    if isinstance(puzzles, np.ndarray) and puzzles.ndim == 1 and puzzles.dtype.kind in "iu":
        puzzles = puzzles[None, :]
    puzzles = list(puzzles) if not isinstance(puzzles, np.ndarray) else puzzles
    if len(puzzles) == 0:
        raise ValueError("puzzles: expected at least one puzzle, found none")
    if kind is None:
        if isinstance(puzzles, np.ndarray) or not isinstance(puzzles[0], str):
            kind = "tokens"
        else:
            kind = guess_kind(puzzles)
    n = len(puzzles)
    for name, values in (("solutions", solutions), ("ids", ids), ("labels", labels),
                         ("puzzle_identifiers", puzzle_identifiers)):
        if values is not None and len(values) != n:
            raise ValueError("%s: expected one per puzzle (%d), found %d" % (name, n, len(values)))
    if kind in ("sudoku", "maze"):
        text = out.sudoku if kind == "sudoku" else out.maze
        text.puzzles.extend(str(p) for p in puzzles)
        if solutions is not None:
            text.solutions.extend(str(s) for s in solutions)
        if ids is not None:
            text.ids.extend(str(i) for i in ids)
        return out
    if kind != "tokens":
        raise ValueError("kind: expected sudoku, maze or tokens, found %r" % (kind,))
    if solutions is not None and labels is None:
        labels = solutions
    tokens = out.tokens
    for i in range(n):
        p = tokens.puzzles.add()
        p.inputs.extend(int(v) for v in np.asarray(puzzles[i]).reshape(-1))
        if labels is not None:
            p.labels.extend(int(v) for v in np.asarray(labels[i]).reshape(-1))
        if puzzle_identifiers is not None:
            p.puzzle_identifier = int(puzzle_identifiers[i])
        if ids is not None:
            p.id = str(ids[i])
    return out
