#!/usr/bin/python3
"""Writes the checkpoint files tests/checkpoint/state_dict_test.cc reads.

Usage: make_checkpoint_cases.py OUT_DIR

Everything valid is a real torch.save of a real state_dict (so an OrderedDict
carrying `_metadata`), keyed the way upstream HRM/TRM training keys it:
`_orig_mod.` from torch.compile, `model.` from ACTLossHead, then `inner.`.
It covers every supported dtype, tied weights (two keys, one storage), a view
at a non-zero storage offset and a transposed (non-contiguous) buffer.

OUT_DIR receives:
  step_7              torch.save to a path: zip root folder "step_7/"
  archive.pt          torch.save to a buffer: zip root folder "archive/"
  protocol4.pt        torch.save(..., pickle_protocol=4)
  rezipped.pt         the same records re-stored by Python's zipfile, plus the
                      byteorder record torch >= 2.1 writes
  model.safetensors   the same tensors in safetensors format (written by hand)
  expected/manifest.txt  one line per tensor: FILE KEY DTYPE SHAPE
                      (SHAPE is comma-separated, "-" for a scalar); FILE holds
                      the values as contiguous little-endian float64
  parameter.pt        {'p': nn.Parameter}: pickled via _rebuild_parameter
  and error cases: deflated.pt, bad_opcode.pt, complex.pt, out_of_range.pt,
  non_tensor.pt, big_endian.pt, legacy.pt.
"""

import collections
import io
import json
import os
import struct
import sys
import zipfile

import torch
from torch import nn


class Mlp(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.gate_up_proj = nn.Linear(width, 2 * width, bias=False)
        self.down_proj = nn.Linear(width, width, bias=False)


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.mlp = Mlp(width)


class ReasoningLevel(nn.Module):
    def __init__(self, width, depth):
        super().__init__()
        self.layers = nn.ModuleList(Block(width) for _ in range(depth))


class Inner(nn.Module):
    """A miniature of the upstream inner model, plus buffers of every dtype."""

    def __init__(self, width=8, vocab=10):
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab, width)
        self.L_level = ReasoningLevel(width, depth=2)
        self.lm_head = nn.Linear(width, vocab, bias=False)
        self.lm_head.weight = self.embed_tokens.weight  # tied: one storage, two keys
        self.q_head = nn.Linear(width, 2)
        base = torch.arange(12, dtype=torch.float64) / 3
        self.register_buffer("base", base)
        self.register_buffer("tail", base[5:])  # same storage, offset 5
        self.register_buffer("transposed", torch.randn(3, 5).t())  # strides (1, 5)
        self.register_buffer("steps", torch.tensor([0, -1, 2**40], dtype=torch.int64))
        self.register_buffer("ids", torch.tensor([[1, -2], [3, 2**30]], dtype=torch.int32))
        self.register_buffer("bytes", torch.tensor([0, 7, 255], dtype=torch.uint8))
        self.register_buffer("mask", torch.tensor([True, False, True]))
        self.register_buffer("scale", torch.tensor(0.5))  # 0-dimensional


class ActModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = Inner()


class ActLossHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = ActModel()


class Compiled(nn.Module):
    """Stands in for torch.compile's OptimizedModule, which keeps `_orig_mod`."""

    def __init__(self, module):
        super().__init__()
        self._orig_mod = module


def make_state_dict():
    torch.manual_seed(0)
    model = Compiled(ActLossHead())
    inner = model._orig_mod.model.inner
    inner.L_level.layers[1].to(torch.bfloat16)
    inner.q_head.to(torch.float16)
    return model.state_dict()


SAFETENSORS_DTYPES = {
    torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16",
    torch.float64: "F64", torch.int64: "I64", torch.int32: "I32",
    torch.uint8: "U8", torch.bool: "BOOL",
}


def raw_bytes(tensor):
    """The tensor's elements, contiguous, as little-endian bytes."""
    flat = tensor.contiguous().reshape(-1)
    if flat.dtype == torch.bfloat16:
        flat = flat.view(torch.int16)  # numpy has no bfloat16
    return flat.numpy().astype(flat.numpy().dtype.newbyteorder("<")).tobytes()


def write_safetensors(state_dict, path):
    header, chunks, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for key, tensor in state_dict.items():
        data = raw_bytes(tensor)
        header[key] = {
            "dtype": SAFETENSORS_DTYPES[tensor.dtype],
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)  # the format pads the header to 8 bytes
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def write_expected(state_dict, out_dir):
    expected_dir = os.path.join(out_dir, "expected")
    os.makedirs(expected_dir, exist_ok=True)
    lines = []
    for index, (key, tensor) in enumerate(state_dict.items()):
        name = f"{index}.f64"
        values = tensor.detach().to(torch.float64).contiguous().reshape(-1)
        with open(os.path.join(expected_dir, name), "wb") as f:
            f.write(values.numpy().astype("<f8").tobytes())
        shape = ",".join(str(d) for d in tensor.shape) or "-"
        lines.append(f"{name} {key} {str(tensor.dtype).replace('torch.', '')} {shape}\n")
    with open(os.path.join(expected_dir, "manifest.txt"), "w") as f:
        f.writelines(lines)


def rezip(source, dest, root, transform_pickle=None, compression=zipfile.ZIP_STORED,
          extra_records=None):
    """Copies a torch.save archive's records into a zip written by Python's
    zipfile under folder `root`, optionally rewriting data.pkl and adding
    records (name relative to the root -> bytes)."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(dest, "w", compression) as dst:
        for info in src.infolist():
            data = src.read(info)
            tail = info.filename.split("/", 1)[1]
            if tail == "data.pkl" and transform_pickle:
                data = transform_pickle(data)
            dst.writestr(f"{root}/{tail}", data)
        for tail, data in (extra_records or {}).items():
            dst.writestr(f"{root}/{tail}", data)


def replace_once(data, old, new):
    assert data.count(old) == 1, (old, data.count(old))
    return data.replace(old, new)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    state_dict = make_state_dict()
    assert isinstance(state_dict, collections.OrderedDict) and state_dict._metadata

    torch.save(state_dict, os.path.join(out, "step_7"))
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    with open(os.path.join(out, "archive.pt"), "wb") as f:
        f.write(buffer.getvalue())
    torch.save(state_dict, os.path.join(out, "protocol4.pt"), pickle_protocol=4)
    # torch >= 2.1 adds a byteorder record; Python's zipfile writes no data descriptors.
    rezip(os.path.join(out, "step_7"), os.path.join(out, "rezipped.pt"), "rezipped",
          extra_records={"byteorder": b"little"})
    write_safetensors(state_dict, os.path.join(out, "model.safetensors"))
    write_expected(state_dict, out)

    torch.save({"p": nn.Parameter(torch.tensor([1.5, -2.0]))}, os.path.join(out, "parameter.pt"))

    # Error cases.
    rezip(os.path.join(out, "step_7"), os.path.join(out, "deflated.pt"), "deflated",
          compression=zipfile.ZIP_DEFLATED)
    # Byte 2, right after PROTO 2, becomes the unknown opcode 0xff.
    rezip(os.path.join(out, "step_7"), os.path.join(out, "bad_opcode.pt"), "bad_opcode",
          transform_pickle=lambda pkl: pkl[:2] + b"\xff" + pkl[3:])
    torch.save({"z": torch.zeros(2, dtype=torch.complex64)}, os.path.join(out, "complex.pt"))
    small = os.path.join(out, "small.pt")
    torch.save({"w": torch.zeros(4)}, small)
    # size (4,) -> (9,): BININT1 4, TUPLE1 becomes BININT1 9, TUPLE1.
    rezip(small, os.path.join(out, "out_of_range.pt"), "out_of_range",
          transform_pickle=lambda pkl: replace_once(pkl, b"K\x04\x85", b"K\x09\x85"))
    os.remove(small)
    torch.save({"w": torch.zeros(2), "step": 5}, os.path.join(out, "non_tensor.pt"))
    rezip(os.path.join(out, "parameter.pt"), os.path.join(out, "big_endian.pt"), "big_endian",
          extra_records={"byteorder": b"big"})
    torch.save({"w": torch.zeros(2)}, os.path.join(out, "legacy.pt"),
               _use_new_zipfile_serialization=False)


if __name__ == "__main__":
    main()
