"""Independent re-implementation of the official HRM / TRM inner forward pass.

This module is the Python parity oracle for the C++ model code.  It follows the
official sources operation by operation:

  * HRM: sapientinc/HRM, models/hrm/hrm_act_v1.py + models/layers.py
  * TRM: SamsungSAILMontreal/TinyRecursiveModels, models/recursive_reasoning/trm.py
         + models/layers.py

It was written from a reading of those files (it does not import or copy them) and
only needs torch (>= 1.13), numpy and yaml.  Module and parameter names are chosen
so that ``state_dict()`` of ``ACTModel`` carries exactly the upstream key names
(``inner.L_level.layers.0.mlp.gate_up_proj.weight`` ...); ``CheckpointWrapper``
adds the ``_orig_mod.model.`` prefix that upstream ``pretrain.py`` checkpoints have
(model wrapped in ``ACTLossHead`` and ``torch.compile``).

Forward dtypes:
  * "float32" / "bfloat16": as upstream (parameters stay float32 and are cast at
    use; H_init / L_init are stored in the forward dtype; rms_norm and RoPE are
    computed in float32 and cast back; q logits are returned in float32).
  * "float64": every tensor, including the RoPE tables and rms_norm, in float64.
    Used to measure the rounding spread of the float32 path.
"""

import math
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

HRM_ARCH_NAME = "hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1"
TRM_ARCH_NAME = "recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1"

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float64": torch.float64}


# ----------------------------------------------------------------------------- helpers

def ceil_div(a, b):
    return -(a // -b)


def swiglu_inter_size(hidden_size, expansion):
    """Intermediate width of the SwiGLU: round(2/3 * expansion * hidden) rounded up to 256."""
    return ceil_div(round(expansion * hidden_size * 2 / 3), 256) * 256


def truncated_normal_(tensor, std, generator=None, lower=-2.0, upper=2.0):
    """JAX-style truncated normal (the init upstream uses): the *result* has std `std`.

    Samples a standard normal truncated to [lower, upper] by inverse-CDF, scaled by a
    factor that compensates the variance lost to truncation.
    """
    with torch.no_grad():
        if std == 0:
            return tensor.zero_()
        r2 = math.sqrt(2.0)
        cdf_lo = math.erf(lower / r2)
        cdf_hi = math.erf(upper / r2)
        mass = (cdf_hi - cdf_lo) / 2
        norm_c = 1.0 / math.sqrt(2 * math.pi)
        phi_lo = norm_c * math.exp(-0.5 * lower * lower)
        phi_hi = norm_c * math.exp(-0.5 * upper * upper)
        var_unit = 1 - (upper * phi_hi - lower * phi_lo) / mass - ((phi_lo - phi_hi) / mass) ** 2
        scale = std / math.sqrt(var_unit)
        tensor.uniform_(cdf_lo, cdf_hi, generator=generator)
        tensor.erfinv_()
        tensor.mul_(r2 * scale)
        tensor.clamp_(lower * scale, upper * scale)
    return tensor


def rms_norm(x, eps):
    """Post-norm RMSNorm without weight; computed in float32 (float64 stays float64)."""
    in_dtype = x.dtype
    work = torch.float64 if in_dtype == torch.float64 else torch.float32
    y = x.to(work)
    mean_sq = (y * y).mean(dim=-1, keepdim=True)
    y = y * torch.rsqrt(mean_sq + eps)
    return y.to(in_dtype)


def _half_swap(x):
    """(x1, x2) -> (-x2, x1) over the two halves of the last axis."""
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


# ----------------------------------------------------------------------------- layers

class CastedLinear(nn.Module):
    """y = x W^T (+ b), the weight cast to the input dtype at use."""

    def __init__(self, n_in, n_out, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_out, n_in))
        if bias:
            self.bias = nn.Parameter(torch.empty(n_out))
        else:
            self.bias = None

    def forward(self, x):
        b = None if self.bias is None else self.bias.to(x.dtype)
        return F.linear(x, self.weight.to(x.dtype), b)


class CastedEmbedding(nn.Module):
    def __init__(self, rows, dim):
        super().__init__()
        self.embedding_weight = nn.Parameter(torch.empty(rows, dim))

    def forward(self, ids, dtype):
        return F.embedding(ids.long(), self.embedding_weight.to(dtype))


class PuzzleEmbedding(nn.Module):
    """Upstream CastedSparseEmbedding in eval mode: a persistent buffer `weights`."""

    def __init__(self, rows, dim):
        super().__init__()
        self.register_buffer("weights", torch.zeros(rows, dim), persistent=True)

    def forward(self, ids, dtype):
        return self.weights[ids.long()].to(dtype)


class Rotary(nn.Module):
    """RoPE tables of length S = seq_len + P; not part of the state dict."""

    def __init__(self, head_dim, length, theta):
        super().__init__()
        self.head_dim = head_dim
        self.length = length
        self.theta = theta
        cos32, sin32 = self._tables(torch.float32)
        self.register_buffer("cos_cached", cos32, persistent=False)
        self.register_buffer("sin_cached", sin32, persistent=False)

    def _tables(self, dtype):
        # Upstream builds these in float32: inv_freq = 1/theta^(2i/d), angles = pos*inv_freq,
        # and the frequency vector is duplicated (first half, second half) -> [S, head_dim].
        idx = torch.arange(0, self.head_dim, 2, dtype=dtype)
        inv_freq = 1.0 / (self.theta ** (idx / self.head_dim))
        pos = torch.arange(self.length, dtype=dtype)
        ang = torch.outer(pos, inv_freq)
        ang = torch.cat((ang, ang), dim=-1)
        return ang.cos(), ang.sin()

    def tables(self, dtype):
        if dtype == torch.float64:
            cos, sin = self._tables(torch.float64)
            return cos.to(self.cos_cached.device), sin.to(self.cos_cached.device)
        # float32 and bfloat16 paths use the float32 tables (as upstream)
        return self.cos_cached.float(), self.sin_cached.float()


def apply_rope(q, k, cos, sin):
    """q, k: [B, S, H, hd]; cos, sin: [S, hd]. Computed in the tables' dtype, cast back."""
    out_dtype = q.dtype
    qc = q.to(cos.dtype)
    kc = k.to(cos.dtype)
    c = cos.unsqueeze(-2)
    s = sin.unsqueeze(-2)
    q2 = qc * c + _half_swap(qc) * s
    k2 = kc * c + _half_swap(kc) * s
    return q2.to(out_dtype), k2.to(out_dtype)


class Attention(nn.Module):
    """Non-causal multi-head self-attention, fused qkv projection (q heads | k heads | v heads)."""

    def __init__(self, hidden, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = hidden // num_heads
        self.qkv_proj = CastedLinear(hidden, 3 * num_heads * self.head_dim, bias=False)
        self.o_proj = CastedLinear(num_heads * self.head_dim, hidden, bias=False)

    def forward(self, x, rope):
        B, S, _ = x.shape
        H, hd = self.num_heads, self.head_dim
        qkv = self.qkv_proj(x).view(B, S, 3 * H, hd)
        q = qkv[:, :, 0:H]
        k = qkv[:, :, H:2 * H]
        v = qkv[:, :, 2 * H:3 * H]
        if rope is not None:
            q, k = apply_rope(q, k, rope[0], rope[1])
        # Explicit attention softmax(Q K^T / sqrt(hd)) V.  Low-precision inputs are
        # computed in float32 (as the fused kernels upstream accumulate in float32).
        work = torch.float64 if x.dtype == torch.float64 else torch.float32
        qh = q.to(work).permute(0, 2, 1, 3)  # [B, H, S, hd]
        kh = k.to(work).permute(0, 2, 1, 3)
        vh = v.to(work).permute(0, 2, 1, 3)
        scores = torch.matmul(qh, kh.transpose(-1, -2)) * (1.0 / math.sqrt(hd))
        probs = torch.softmax(scores, dim=-1)
        ctx = torch.matmul(probs, vh).permute(0, 2, 1, 3).reshape(B, S, H * hd).to(x.dtype)
        return self.o_proj(ctx)


class SwiGLU(nn.Module):
    """down( silu(gate) * up ), gate and up being the two halves of one projection."""

    def __init__(self, hidden, expansion):
        super().__init__()
        inter = swiglu_inter_size(hidden, expansion)
        self.inter = inter
        self.gate_up_proj = CastedLinear(hidden, 2 * inter, bias=False)
        self.down_proj = CastedLinear(inter, hidden, bias=False)

    def forward(self, x):
        gu = self.gate_up_proj(x)
        gate, up = gu[..., :self.inter], gu[..., self.inter:]
        return self.down_proj(F.silu(gate) * up)


class Block(nn.Module):
    """Post-norm block: x = rms(x + mix(x)); x = rms(x + mlp(x)).

    mix = self-attention over positions, or (TRM mlp_t) a SwiGLU over the sequence axis
    applied to the transposed state [B, D, S] (normalised over S, then transposed back).
    """

    def __init__(self, cfg, seq_total):
        super().__init__()
        self.use_mlp_t = bool(cfg.get("mlp_t", False))
        self.eps = float(cfg.get("rms_norm_eps", 1e-5))
        if self.use_mlp_t:
            self.mlp_t = SwiGLU(seq_total, cfg["expansion"])
        else:
            self.self_attn = Attention(cfg["hidden_size"], cfg["num_heads"])
        self.mlp = SwiGLU(cfg["hidden_size"], cfg["expansion"])

    def forward(self, x, rope):
        if self.use_mlp_t:
            xt = x.transpose(1, 2)
            xt = rms_norm(xt + self.mlp_t(xt), self.eps)
            x = xt.transpose(1, 2)
        else:
            x = rms_norm(x + self.self_attn(x, rope), self.eps)
        x = rms_norm(x + self.mlp(x), self.eps)
        return x


class Level(nn.Module):
    """A reasoning module: add the injection once, then run the blocks."""

    def __init__(self, blocks):
        super().__init__()
        self.layers = nn.ModuleList(blocks)

    def forward(self, state, injection, rope):
        x = state + injection
        for blk in self.layers:
            x = blk(x, rope)
        return x


# ----------------------------------------------------------------------------- model

def _is_trm(cfg):
    return cfg["name"].startswith("recursive_reasoning.trm")


def puzzle_positions(cfg):
    """P: HRM ceil(puzzle_emb_ndim / hidden); TRM puzzle_emb_len if non-zero else the ceiling."""
    ceil_p = ceil_div(int(cfg.get("puzzle_emb_ndim", 0)), int(cfg["hidden_size"]))
    if _is_trm(cfg):
        explicit = int(cfg.get("puzzle_emb_len", 16))  # upstream TRM default is 16
        return explicit if explicit != 0 else ceil_p
    return ceil_p


class Inner(nn.Module):
    """The official `*_Inner` module: embeddings, reasoning levels, heads, initial states."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = dict(cfg)
        self.trm = _is_trm(cfg)
        self.hidden = int(cfg["hidden_size"])
        self.seq_len = int(cfg["seq_len"])
        self.vocab = int(cfg["vocab_size"])
        self.emb_ndim = int(cfg.get("puzzle_emb_ndim", 0))
        self.P = puzzle_positions(cfg)
        self.S = self.seq_len + self.P
        self.pos = cfg["pos_encodings"]
        self.H_cycles = int(cfg["H_cycles"])
        self.L_cycles = int(cfg["L_cycles"])
        self.embed_scale = math.sqrt(self.hidden)
        self.forward_dtype = _DTYPES[cfg.get("forward_dtype", "bfloat16")]

        # Registration order mirrors upstream (state_dict order follows it).
        self.register_buffer("H_init", torch.zeros(self.hidden, dtype=self.forward_dtype), persistent=True)
        self.register_buffer("L_init", torch.zeros(self.hidden, dtype=self.forward_dtype), persistent=True)
        self.embed_tokens = CastedEmbedding(self.vocab, self.hidden)
        self.lm_head = CastedLinear(self.hidden, self.vocab, bias=False)
        self.q_head = CastedLinear(self.hidden, 2, bias=True)
        if self.emb_ndim > 0:
            self.puzzle_emb = PuzzleEmbedding(int(cfg["num_puzzle_identifiers"]), self.emb_ndim)
        if self.pos == "rope":
            self.rotary_emb = Rotary(self.hidden // int(cfg["num_heads"]), self.S,
                                     float(cfg.get("rope_theta", 10000.0)))
        elif self.pos == "learned":
            self.embed_pos = CastedEmbedding(self.S, self.hidden)
        elif self.trm:
            pass  # TRM accepts any other value (e.g. "none") as "no position encoding"
        else:
            raise NotImplementedError("HRM supports pos_encodings rope | learned, got %r" % self.pos)
        if not self.trm:
            self.H_level = Level([Block(cfg, self.S) for _ in range(int(cfg["H_layers"]))])
        self.L_level = Level([Block(cfg, self.S) for _ in range(int(cfg["L_layers"]))])

    # -- dtype handling
    def set_forward_dtype(self, name):
        """Switch the forward dtype.  "float64" also converts every parameter/buffer."""
        dt = _DTYPES[name]
        self.forward_dtype = dt
        if dt == torch.float64:
            self.double()
        else:
            self.float()
            self.H_init.data = self.H_init.data.to(dt)
            self.L_init.data = self.L_init.data.to(dt)
        self.cfg["forward_dtype"] = name
        return self

    def rope(self):
        if self.pos == "rope":
            return self.rotary_emb.tables(self.forward_dtype)
        return None

    # -- pieces of the official forward
    def input_embeddings(self, inputs, puzzle_identifiers):
        dt = self.forward_dtype
        tok = self.embed_tokens(inputs, dt)                        # [B, L, D]
        if self.emb_ndim > 0:
            pe = self.puzzle_emb(puzzle_identifiers, dt)           # [B, ndim]
            pad = self.P * self.hidden - pe.shape[-1]
            if pad > 0:
                pe = F.pad(pe, (0, pad))                           # zero-fill to P*D
            pe = pe.view(-1, self.P, self.hidden)
            tok = torch.cat((pe, tok), dim=-2)                     # puzzle positions first
        if self.pos == "learned":
            tok = 0.707106781 * (tok + self.embed_pos.embedding_weight.to(dt))
        return self.embed_scale * tok

    def reset_state(self, batch):
        zH = self.H_init.to(self.forward_dtype).view(1, 1, -1).expand(batch, self.S, self.hidden).clone()
        zL = self.L_init.to(self.forward_dtype).view(1, 1, -1).expand(batch, self.S, self.hidden).clone()
        return zH, zL

    def segment(self, z_H, z_L, e):
        """One call of the official inner forward's recursion."""
        rope = self.rope()
        Hc, Lc = self.H_cycles, self.L_cycles
        if self.trm:
            for _h in range(Hc - 1):
                for _l in range(Lc):
                    z_L = self.L_level(z_L, z_H + e, rope)
                z_H = self.L_level(z_H, z_L, rope)
            for _l in range(Lc):
                z_L = self.L_level(z_L, z_H + e, rope)
            z_H = self.L_level(z_H, z_L, rope)
        else:
            for h in range(Hc):
                for l in range(Lc):
                    if not (h == Hc - 1 and l == Lc - 1):
                        z_L = self.L_level(z_L, z_H + e, rope)
                if h != Hc - 1:
                    z_H = self.H_level(z_H, z_L, rope)
            z_L = self.L_level(z_L, z_H + e, rope)
            z_H = self.H_level(z_H, z_L, rope)
        return z_H, z_L

    def outputs(self, z_H):
        logits = self.lm_head(z_H)[:, self.P:]
        q = self.q_head(z_H[:, 0])
        if q.dtype != torch.float64:
            q = q.to(torch.float32)
        return logits, q[..., 0], q[..., 1]

    def updates_per_segment(self):
        if self.trm:
            return self.H_cycles * (self.L_cycles + 1)
        return self.H_cycles * self.L_cycles + self.H_cycles


class ACTModel(nn.Module):
    """Stands for the upstream ACT wrapper: it only owns `inner`."""

    def __init__(self, cfg):
        super().__init__()
        self.inner = Inner(cfg)


class _LossHead(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model


class CheckpointWrapper(nn.Module):
    """torch.compile(ACTLossHead(model)) as seen by state_dict(): `_orig_mod.model.inner...`."""

    def __init__(self, act_model):
        super().__init__()
        self.add_module("_orig_mod", _LossHead(act_model))


def build_model(arch_cfg, seq_len, vocab_size, num_puzzle_identifiers, forward_dtype=None):
    """Build an ACTModel from an `arch:` block (dict) plus dataset dimensions."""
    cfg = dict(arch_cfg)
    cfg["seq_len"] = seq_len
    cfg["vocab_size"] = vocab_size
    cfg["num_puzzle_identifiers"] = num_puzzle_identifiers
    if forward_dtype is not None:
        cfg["forward_dtype"] = forward_dtype
    cfg.setdefault("forward_dtype", "bfloat16")
    return ACTModel(cfg)


def strip_checkpoint_prefix(sd):
    """Upstream checkpoint state dict -> ACTModel state dict (drops `_orig_mod.model.`)."""
    out = OrderedDict()
    for k, v in sd.items():
        key = k
        for pre in ("_orig_mod.", "model."):
            if key.startswith(pre):
                key = key[len(pre):]
        out[key] = v
    return out


@torch.no_grad()
def run_trajectory(model, inputs, puzzle_ids, T):
    """T segments from the reset carry, never halting early (upstream evaluation).

    Returns a dict of stacked tensors, index t-1 = after segment t:
      z_H, z_L [T,B,S,D]; logits [T,B,L,V]; preds [T,B,L] int64; q_halt, q_continue [T,B].
    """
    inner = model.inner if isinstance(model, ACTModel) else model
    inner.eval()
    e = inner.input_embeddings(inputs, puzzle_ids)
    z_H, z_L = inner.reset_state(inputs.shape[0])
    rec = {k: [] for k in ("z_H", "z_L", "logits", "preds", "q_halt", "q_continue")}
    for _t in range(T):
        z_H, z_L = inner.segment(z_H, z_L, e)
        logits, qh, qc = inner.outputs(z_H)
        rec["z_H"].append(z_H.clone())
        rec["z_L"].append(z_L.clone())
        rec["logits"].append(logits)
        rec["preds"].append(torch.argmax(logits, dim=-1))
        rec["q_halt"].append(qh)
        rec["q_continue"].append(qc)
    return {k: torch.stack(v) for k, v in rec.items()}
