#!/usr/bin/python3
"""Writes a small dataset in the upstream puzzle-dataset layout for the tests.

The conversion mirrors TinyRecursiveModels' dataset/build_sudoku_dataset.py and
build_maze_dataset.py (no augmentation): uint8 tokens written by np.save,
int32 index arrays, and dataset.json dumped from the same metadata fields in
the same order. --corrupt then breaks exactly one thing so the C++ reader's
error path can be tested on files NumPy really wrote. OUT_ROOT/source.csv
receives the same puzzles in the upstream source CSV layout.

Usage: make_dataset.py OUT_ROOT [--kind sudoku|maze] [--splits test,train]
                       [--ignore-label 0|null] [--pad-labels] [--corrupt NAME]
"""
import argparse
import csv
import json
import os

import numpy as np

SUDOKU = [
    # (question, answer): a classic puzzle with 30 givens, the same grid with
    # only its first row given (9 givens), and a fully given grid (81).
    ("53..7....6..195....98....6.8...6...34..8.3..17...2...6.6....28....419..5....8..79",
     "534678912672195348198342567859761423426853791713924856961537284287419635345286179"),
    ("534678912" + "." * 72,
     "534678912672195348198342567859761423426853791713924856961537284287419635345286179"),
    ("534678912672195348198342567859761423426853791713924856961537284287419635345286179",
     "534678912672195348198342567859761423426853791713924856961537284287419635345286179"),
]

MAZE_CHARSET = "# SGo"
MAZES = [
    ("#####"
     "#S  #"
     "# # #"
     "#  G#"
     "#####",
     "#####"
     "#Soo#"
     "# #o#"
     "#  G#"
     "#####"),
    ("#####"
     "#S#G#"
     "# # #"
     "#   #"
     "#####",
     "#####"
     "#S#G#"
     "#o#o#"
     "#ooo#"
     "#####"),
]

CORRUPTIONS = [
    "none", "inputs_float", "inputs_big_endian", "inputs_wrong_seq_len", "labels_short",
    "token_out_of_range", "label_out_of_range", "identifier_out_of_range", "missing_inputs",
    "missing_labels", "missing_key", "other_sets", "identifiers_per_puzzle",
]


def sudoku_arrays(pairs):
    inputs = [np.frombuffer(q.replace('.', '0').encode(), dtype=np.uint8).reshape(9, 9) - ord('0')
              for q, _ in pairs]
    labels = [np.frombuffer(a.encode(), dtype=np.uint8).reshape(9, 9) - ord('0') for _, a in pairs]

    def _seq_to_numpy(seq):
        arr = np.concatenate(seq).reshape(len(seq), -1)
        assert np.all((arr >= 0) & (arr <= 9))
        return arr + 1

    return _seq_to_numpy(inputs), _seq_to_numpy(labels), 81, 10 + 1


def maze_arrays(pairs):
    n = int(len(pairs[0][0]) ** 0.5)
    char2id = np.zeros(256, np.uint8)
    char2id[np.array(list(map(ord, MAZE_CHARSET)))] = np.arange(len(MAZE_CHARSET)) + 1

    def _seq_to_numpy(seq):
        return np.vstack([char2id[np.frombuffer(s.encode(), dtype=np.uint8).reshape(n, n).reshape(-1)]
                          for s in seq])

    return (_seq_to_numpy([q for q, _ in pairs]), _seq_to_numpy([a for _, a in pairs]), n * n,
            len(MAZE_CHARSET) + 1)


def write_split(save_dir, kind, pairs, ignore_label, pad_labels, corrupt):
    inputs, labels, seq_len, vocab_size = (sudoku_arrays if kind == "sudoku" else maze_arrays)(pairs)
    count = len(pairs)
    results = {
        "inputs": inputs,
        "labels": labels,
        "group_indices": np.arange(count + 1, dtype=np.int32),
        "puzzle_indices": np.arange(count + 1, dtype=np.int32),
        "puzzle_identifiers": np.zeros(count, dtype=np.int32),
    }
    if pad_labels:
        results["labels"][0, :3] = 0  # pad positions: what ignore_label_id 0 refers to
    metadata = dict(
        pad_id=0,
        ignore_label_id=ignore_label,
        blank_identifier_id=0,
        vocab_size=vocab_size,
        seq_len=seq_len,
        num_puzzle_identifiers=1,
        total_groups=count,
        mean_puzzle_examples=1.0,  # pydantic float field
        total_puzzles=count,
        sets=["all"],
    )

    if corrupt == "inputs_float":
        results["inputs"] = results["inputs"].astype(np.float32)
    elif corrupt == "inputs_big_endian":
        results["inputs"] = results["inputs"].astype(">i4")
    elif corrupt == "inputs_wrong_seq_len":
        results["inputs"] = results["inputs"][:, :-1].copy()
    elif corrupt == "labels_short":
        results["labels"] = results["labels"][:-1].copy()
    elif corrupt == "token_out_of_range":
        results["inputs"][1, 40] = vocab_size + 1
    elif corrupt == "label_out_of_range":
        results["labels"][count - 1, 5] = vocab_size
    elif corrupt == "identifier_out_of_range":
        results["puzzle_identifiers"][count - 1] = 1
    elif corrupt == "missing_key":
        del metadata["seq_len"]
    elif corrupt == "other_sets":
        metadata["sets"] = ["all", "extra"]
    elif corrupt == "identifiers_per_puzzle":
        # Two puzzles: examples 0..count-2 belong to puzzle 0, the last to puzzle 1.
        results["puzzle_indices"] = np.array([0, count - 1, count], dtype=np.int32)
        results["puzzle_identifiers"] = np.array([0, 1], dtype=np.int32)
        metadata["num_puzzle_identifiers"] = 2

    os.makedirs(save_dir, exist_ok=True)
    with open(os.path.join(save_dir, "dataset.json"), "w") as f:
        json.dump(metadata, f)
    for k, v in results.items():
        if (k, corrupt) in (("inputs", "missing_inputs"), ("labels", "missing_labels")):
            continue
        np.save(os.path.join(save_dir, f"all__{k}.npy"), v)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out_root")
    parser.add_argument("--kind", choices=["sudoku", "maze"], default="sudoku")
    parser.add_argument("--splits", default="test,train")
    parser.add_argument("--ignore-label", default="0")
    parser.add_argument("--pad-labels", action="store_true")
    parser.add_argument("--corrupt", choices=CORRUPTIONS, default="none")
    args = parser.parse_args()
    ignore_label = None if args.ignore_label == "null" else int(args.ignore_label)
    pairs = SUDOKU if args.kind == "sudoku" else MAZES
    for split in args.splits.split(","):
        # The train split holds only the first puzzle, so a reader that picks
        # the wrong split is caught by its size.
        split_pairs = pairs if split == "test" else pairs[:1]
        write_split(os.path.join(args.out_root, split), args.kind, split_pairs, ignore_label,
                    args.pad_labels, args.corrupt if split == "test" else "none")
    with open(os.path.join(args.out_root, "identifiers.json"), "w") as f:
        json.dump(["<blank>"], f)
    # The same puzzles as the upstream source CSV the builders download, so the
    # text readers can be checked against the dataset reader.
    with open(os.path.join(args.out_root, "source.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["source", "question", "answer", "rating"])
        for i, (q, a) in enumerate(pairs):
            writer.writerow([f"src{i}", q, a, i])


if __name__ == "__main__":
    main()
