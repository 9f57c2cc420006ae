#!/usr/bin/python3
"""Write deterministic HRM / TRM parity fixtures (checkpoint, config, dataset, trajectories).

Usage: /usr/bin/python3 tests/reference/make_model_fixtures.py OUTDIR

For each variant (hrm, trm_attn, trm_mlpt, trm_learned) this writes OUTDIR/<variant>/:
  step_0             torch.save of the state dict with upstream key names
                     (_orig_mod.model.inner....), random weights, fixed seed
  all_config.yaml    upstream-style yaml.dump(config.model_dump()) with an arch: block
  data/test/         upstream puzzle-dataset layout, 3 valid Sudoku puzzles
  expected/          float32 reference trajectory over T=16 segments, plus the same
                     trajectory in float64 (stored as float32) to measure rounding spread
"""

import json
import math
import os
import sys
from collections import OrderedDict

import numpy as np
import torch
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import official_forward as ref  # noqa: E402

T_SEGMENTS = 16
SEQ_LEN = 81
VOCAB = 11
NUM_PUZZLE_IDS = 3

# ----------------------------------------------------------------------------- variants

_COMMON = dict(
    hidden_size=64, num_heads=4, expansion=4, puzzle_emb_ndim=64,
    halt_max_steps=16, halt_exploration_prob=0.1, forward_dtype="float32",
)

VARIANTS = OrderedDict()
VARIANTS["hrm"] = dict(
    arch=dict(name=ref.HRM_ARCH_NAME, H_cycles=2, L_cycles=2, H_layers=2, L_layers=2,
              pos_encodings="rope", **_COMMON),
    seed=1001, gain=0.6)
VARIANTS["trm_attn"] = dict(
    arch=dict(name=ref.TRM_ARCH_NAME, H_cycles=3, L_cycles=6, H_layers=0, L_layers=2,
              pos_encodings="rope", puzzle_emb_len=16, mlp_t=False, no_ACT_continue=True,
              **_COMMON),
    seed=1002, gain=0.6)
# Official Sudoku recipe (TRM README): arch.mlp_t=True arch.pos_encodings=none
# arch.L_layers=2 arch.H_cycles=3 arch.L_cycles=6 (rest from config/arch/trm.yaml).
VARIANTS["trm_mlpt"] = dict(
    arch=dict(name=ref.TRM_ARCH_NAME, H_cycles=3, L_cycles=6, H_layers=0, L_layers=2,
              pos_encodings="none", puzzle_emb_len=16, mlp_t=True, no_ACT_continue=True,
              **_COMMON),
    seed=1003, gain=0.4)
VARIANTS["trm_learned"] = dict(
    arch=dict(name=ref.TRM_ARCH_NAME, H_cycles=2, L_cycles=2, H_layers=0, L_layers=2,
              pos_encodings="learned", puzzle_emb_len=0, mlp_t=False, no_ACT_continue=True,
              **_COMMON),
    seed=1004, gain=0.5)


# ----------------------------------------------------------------------------- sudoku

def _candidates(grid, r, c):
    used = set(grid[r, :]) | set(grid[:, c])
    br, bc = 3 * (r // 3), 3 * (c // 3)
    used |= set(grid[br:br + 3, bc:bc + 3].ravel())
    return [d for d in range(1, 10) if d not in used]


def _fill(grid, rng):
    empties = np.argwhere(grid == 0)
    if len(empties) == 0:
        return True
    r, c = empties[0]
    digits = _candidates(grid, r, c)
    rng.shuffle(digits)
    for d in digits:
        grid[r, c] = d
        if _fill(grid, rng):
            return True
    grid[r, c] = 0
    return False


def _count_solutions(grid, limit=2):
    empties = np.argwhere(grid == 0)
    if len(empties) == 0:
        return 1
    # most constrained cell first
    best, best_c = None, None
    for r, c in empties:
        cand = _candidates(grid, r, c)
        if best is None or len(cand) < len(best):
            best, best_c = cand, (r, c)
            if len(cand) <= 1:
                break
    total = 0
    r, c = best_c
    for d in best:
        grid[r, c] = d
        total += _count_solutions(grid, limit - total)
        grid[r, c] = 0
        if total >= limit:
            break
    return total


def make_sudoku(rng, target_givens):
    """A random solved grid, then cells removed while the solution stays unique."""
    sol = np.zeros((9, 9), dtype=np.int64)
    assert _fill(sol, rng)
    puzzle = sol.copy()
    order = list(range(81))
    rng.shuffle(order)
    for cell in order:
        if int((puzzle > 0).sum()) <= target_givens:
            break
        r, c = divmod(cell, 9)
        keep = puzzle[r, c]
        puzzle[r, c] = 0
        if _count_solutions(puzzle.copy()) != 1:
            puzzle[r, c] = keep
    return puzzle, sol


def _check_solution(sol):
    full = set(range(1, 10))
    for i in range(9):
        assert set(sol[i, :]) == full and set(sol[:, i]) == full
        br, bc = 3 * (i // 3), 3 * (i % 3)
        assert set(sol[br:br + 3, bc:bc + 3].ravel()) == full


def write_dataset(split_dir, seed):
    rng = np.random.RandomState(seed)
    inputs, labels = [], []
    for givens in (34, 24):  # two puzzles keep the committed fixtures small
        puz, sol = make_sudoku(rng, givens)
        _check_solution(sol)
        assert np.all((puz == 0) | (puz == sol))
        inputs.append(puz.reshape(81))
        labels.append(sol.reshape(81))
    # upstream encoding: value + 1 (blank 0 -> 1, digits 1..9 -> 2..10), uint8
    inputs = (np.stack(inputs) + 1).astype(np.uint8)
    labels = (np.stack(labels) + 1).astype(np.uint8)
    n = inputs.shape[0]
    os.makedirs(split_dir, exist_ok=True)
    arrays = {
        "inputs": inputs,
        "labels": labels,
        "group_indices": np.arange(n + 1, dtype=np.int32),
        "puzzle_indices": np.arange(n + 1, dtype=np.int32),
        "puzzle_identifiers": (np.arange(n, dtype=np.int32) * 2) % NUM_PUZZLE_IDS,  # 0, 2
    }
    for k, v in arrays.items():
        np.save(os.path.join(split_dir, "all__%s.npy" % k), v)
    meta = OrderedDict([
        ("pad_id", 0), ("ignore_label_id", 0), ("blank_identifier_id", 0),
        ("vocab_size", VOCAB), ("seq_len", SEQ_LEN),
        ("num_puzzle_identifiers", NUM_PUZZLE_IDS), ("total_groups", n),
        ("mean_puzzle_examples", 1.0), ("total_puzzles", n), ("sets", ["all"]),
    ])
    with open(os.path.join(split_dir, "dataset.json"), "w") as f:
        json.dump(meta, f)
    return arrays


# ----------------------------------------------------------------------------- weights

def init_weights(model, seed, gain):
    """Upstream-like truncated-normal init, with the zero-initialised parts re-randomised.

    Linear layers: std gain/sqrt(fan_in) (upstream: 1/sqrt(fan_in)); token / position
    embeddings: std 1/sqrt(hidden); H_init/L_init: std 1 (as upstream).
    Upstream zero-inits the puzzle embeddings and q_head weight (bias -5); here they
    are random (puzzle embeddings std 1/sqrt(hidden), i.e. unit scale after the
    sqrt(hidden) embedding scale; q_head weight std 1/sqrt(hidden), bias std 0.5) so
    that the puzzle identifiers and the halting heads are exercised.
    """
    g = torch.Generator().manual_seed(seed)
    inner = model.inner
    D = inner.hidden
    with torch.no_grad():
        for name, p in inner.named_parameters():
            if name.endswith("embedding_weight"):
                ref.truncated_normal_(p, 1.0 / math.sqrt(D), g)
            elif name == "q_head.weight":
                ref.truncated_normal_(p, 1.0 / math.sqrt(D), g)
            elif name == "q_head.bias":
                ref.truncated_normal_(p, 0.5, g)
            elif name == "lm_head.weight":
                ref.truncated_normal_(p, 1.0 / math.sqrt(p.shape[1]), g)
            elif name.endswith(".weight"):
                ref.truncated_normal_(p, gain / math.sqrt(p.shape[1]), g)
            else:
                raise RuntimeError("unhandled parameter " + name)
        ref.truncated_normal_(inner.H_init, 1.0, g)
        ref.truncated_normal_(inner.L_init, 1.0, g)
        if hasattr(inner, "puzzle_emb"):
            ref.truncated_normal_(inner.puzzle_emb.weights, 1.0 / math.sqrt(D), g)


# ----------------------------------------------------------------------------- config

def config_dump(variant, arch):
    """What upstream pretrain.py writes: yaml.dump(PretrainConfig.model_dump())."""
    arch_block = dict(arch)
    arch_block["loss"] = {"name": "losses@ACTLossHead", "loss_type": "stablemax_cross_entropy"}
    data_path = "data/sudoku-extreme-1k-aug-1000"
    if arch["name"] == ref.HRM_ARCH_NAME:
        # sapientinc/HRM PretrainConfig (single data_path)
        cfg = dict(
            arch=arch_block, data_path=data_path, global_batch_size=384, epochs=20000,
            lr=7e-5, lr_min_ratio=1.0, lr_warmup_steps=2000, weight_decay=1.0,
            beta1=0.9, beta2=0.95, puzzle_emb_lr=7e-5, puzzle_emb_weight_decay=1.0,
            project_name="Sudoku-extreme-1k-aug-1000 ACT-torch",
            run_name="fixture " + variant, checkpoint_path="checkpoints/fixture/" + variant,
            seed=0, checkpoint_every_eval=True, eval_interval=2000, eval_save_outputs=[],
        )
    else:
        # SamsungSAILMontreal/TinyRecursiveModels PretrainConfig (list data_paths, EMA ...)
        cfg = dict(
            arch=arch_block, data_paths=[data_path], data_paths_test=[], evaluators=[],
            global_batch_size=768, epochs=50000, lr=1e-4, lr_min_ratio=1.0,
            lr_warmup_steps=2000, weight_decay=1.0, beta1=0.9, beta2=0.95,
            puzzle_emb_lr=1e-4, puzzle_emb_weight_decay=1.0,
            project_name="Sudoku-extreme-1k-aug-1000-ACT-torch",
            run_name="fixture " + variant, load_checkpoint=None,
            checkpoint_path="checkpoints/fixture/" + variant, seed=0,
            checkpoint_every_eval=True, eval_interval=5000, min_eval_interval=0,
            eval_save_outputs=[], ema=True, ema_rate=0.999, freeze_weights=False,
        )
    return yaml.dump(cfg)


def checkpoint_state_dict(model):
    """state_dict() of the wrapped model: keys `_orig_mod.model.inner...`, with _metadata."""
    wrapper = ref.CheckpointWrapper(model)
    sd = wrapper.state_dict()
    assert hasattr(sd, "_metadata")
    return sd


# ----------------------------------------------------------------------------- main

def _np(t, dtype):
    return t.detach().cpu().to(torch.float64).numpy().astype(dtype)


def build_variant(outdir, variant, spec):
    vdir = os.path.join(outdir, variant)
    os.makedirs(os.path.join(vdir, "expected"), exist_ok=True)
    arrays = write_dataset(os.path.join(vdir, "data", "test"), spec["seed"])

    torch.manual_seed(spec["seed"])
    model = ref.build_model(spec["arch"], SEQ_LEN, VOCAB, NUM_PUZZLE_IDS, forward_dtype="float32")
    init_weights(model, spec["seed"], spec["gain"])
    model.eval()

    # checkpoint + config
    sd = checkpoint_state_dict(model)
    torch.save(sd, os.path.join(vdir, "step_0"))
    with open(os.path.join(vdir, "all_config.yaml"), "w") as f:
        f.write(config_dump(variant, spec["arch"]))

    # round trip: load the written file, strip prefixes, strict load into a fresh model
    loaded = torch.load(os.path.join(vdir, "step_0"))
    assert all(k.startswith("_orig_mod.model.inner.") for k in loaded.keys())
    fresh = ref.build_model(spec["arch"], SEQ_LEN, VOCAB, NUM_PUZZLE_IDS, forward_dtype="float32")
    fresh.load_state_dict(ref.strip_checkpoint_prefix(loaded), strict=True)
    for k, v in model.state_dict().items():
        assert torch.equal(v, fresh.state_dict()[k]), k

    inputs = torch.from_numpy(arrays["inputs"].astype(np.int64))
    pids = torch.from_numpy(arrays["puzzle_identifiers"].astype(np.int64))

    tr32 = ref.run_trajectory(fresh, inputs, pids, T_SEGMENTS)
    m64 = ref.build_model(spec["arch"], SEQ_LEN, VOCAB, NUM_PUZZLE_IDS, forward_dtype="float32")
    m64.load_state_dict(ref.strip_checkpoint_prefix(loaded), strict=True)
    m64.inner.set_forward_dtype("float64")
    tr64 = ref.run_trajectory(m64, inputs, pids, T_SEGMENTS)

    ex = os.path.join(vdir, "expected")
    np.save(os.path.join(ex, "z_H.npy"), _np(tr32["z_H"], np.float32))
    np.save(os.path.join(ex, "z_L.npy"), _np(tr32["z_L"], np.float32))
    np.save(os.path.join(ex, "logits.npy"), _np(tr32["logits"], np.float32))
    np.save(os.path.join(ex, "preds.npy"), tr32["preds"].numpy().astype(np.int64))
    np.save(os.path.join(ex, "q_halt_logits.npy"), _np(tr32["q_halt"], np.float32))
    np.save(os.path.join(ex, "q_continue_logits.npy"), _np(tr32["q_continue"], np.float32))
    # The rounding spread between two correct implementations (float32 vs
    # float64 of the same code), per segment: max |difference| of z_H, z_L, logits.
    spread = np.array([[(tr32[k][t].double() - tr64[k][t]).abs().max().item()
                        for k in ("z_H", "z_L", "logits")] for t in range(T_SEGMENTS)])
    np.save(os.path.join(ex, "spread.npy"), spread.astype(np.float64))

    # What bfloat16 (upstream's default forward dtype) costs in this reference:
    # one segment from the float32 state at t-1 cast to bfloat16, compared with
    # the float32 state at t: max |difference| of z_H and z_L per segment.
    mbf = ref.build_model(spec["arch"], SEQ_LEN, VOCAB, NUM_PUZZLE_IDS, forward_dtype="float32")
    mbf.load_state_dict(ref.strip_checkpoint_prefix(loaded), strict=True)
    mbf.inner.set_forward_dtype("bfloat16")
    with torch.no_grad():
        e_bf = mbf.inner.input_embeddings(inputs, pids)
        zH0, zL0 = mbf.inner.reset_state(inputs.shape[0])
        bf16_spread = []
        for t in range(T_SEGMENTS):
            zH = zH0 if t == 0 else tr32["z_H"][t - 1].to(torch.bfloat16)
            zL = zL0 if t == 0 else tr32["z_L"][t - 1].to(torch.bfloat16)
            zH, zL = mbf.inner.segment(zH, zL, e_bf)
            bf16_spread.append([(zH.double() - tr32["z_H"][t].double()).abs().max().item(),
                                (zL.double() - tr32["z_L"][t].double()).abs().max().item()])
    np.save(os.path.join(ex, "spread_bf16.npy"), np.array(bf16_spread, dtype=np.float64))

    # ---- report
    inner = fresh.inner
    print("== %s: S=%d P=%d D=%d V=%d L=%d updates/segment=%d"
          % (variant, inner.S, inner.P, inner.hidden, inner.vocab, inner.seq_len,
             inner.updates_per_segment()))
    labels = torch.from_numpy(arrays["labels"].astype(np.int64))
    zH0, zL0 = inner.reset_state(inputs.shape[0])
    prev = torch.cat([zH0, zL0], dim=-1).double()
    for t in range(T_SEGMENTS):
        dH = (tr32["z_H"][t].double() - tr64["z_H"][t]).abs().max().item()
        dL = (tr32["z_L"][t].double() - tr64["z_L"][t]).abs().max().item()
        dlog = (tr32["logits"][t].double() - tr64["logits"][t]).abs().max().item()
        cur = torch.cat([tr32["z_H"][t], tr32["z_L"][t]], dim=-1).double()
        disp = ((cur - prev).norm() / math.sqrt(cur.numel())).item()
        prev = cur
        acc = (tr32["preds"][t] == labels).double().mean().item()
        flips = 0 if t == 0 else int((tr32["preds"][t] != tr32["preds"][t - 1]).sum())
        if (t + 1) in (1, 2, 4, 8, 12, 16):
            print("  seg %2d  |f32-f64| z_H %.2e z_L %.2e logits %.2e | rms z_H %.3f z_L %.3f"
                  " | disp %.3e | acc %.3f flips %3d | q_halt %s q_cont %s"
                  % (t + 1, dH, dL, dlog,
                     tr32["z_H"][t].pow(2).mean().sqrt().item(),
                     tr32["z_L"][t].pow(2).mean().sqrt().item(),
                     disp, acc, flips,
                     np.array2string(tr32["q_halt"][t].numpy(), precision=2),
                     np.array2string(tr32["q_continue"][t].numpy(), precision=2)))
        assert torch.isfinite(tr32["z_H"][t]).all() and torch.isfinite(tr32["z_L"][t]).all()
    return inner


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    outdir = argv[1]
    torch.set_num_threads(1)  # deterministic reductions
    for variant, spec in VARIANTS.items():
        build_variant(outdir, variant, spec)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
