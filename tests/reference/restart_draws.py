"""SPEC §5 restart draws (docs/draws.md), independently of the C++ code.

usage:
  restart_draws.py SEED EXAMPLE_INDEX RESTART symmetry sudoku|maze SEQ_LEN
      prints   index K           the symmetry's number (0 = identity, never drawn)
               source S_0 ...    position i of the moved puzzle holds position S_i
               token_map T_0 ... token t becomes T_t (empty: tokens unchanged)
  restart_draws.py SEED EXAMPLE_INDEX RESTART noise COUNT
      prints   normals E_0 ...   the first COUNT standard normals of the stream
                                 (init_noise: ε of x_0; step_noise: ε_1, ε_2, ...
                                 one after the other, N = 2·S·D values each)
Floats are printed with repr (shortest round trip).
"""
import math
import sys

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


class SplitMix64:
    def __init__(self, state):
        self.state = state & MASK

    def next(self):
        self.state = (self.state + GOLDEN) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def uniform(self):  # in (0, 1]
        return 1.0 - (self.next() >> 11) * 2.0 ** -53

    def below(self, n):  # unbiased, by rejection of z < 2^64 mod n
        threshold = (1 << 64) % n
        while True:
            z = self.next()
            if z >= threshold:
                return z % n

    def normals(self, count):  # Box-Muller in pairs, as SPEC §3
        values = []
        while len(values) < count:
            u1, u2 = self.uniform(), self.uniform()
            r = math.sqrt(-2.0 * math.log(u1))
            values += [r * math.cos(2 * math.pi * u2), r * math.sin(2 * math.pi * u2)]
        return values[:count]


def restart_stream(seed, example_index, restart):
    h1 = SplitMix64(seed).next()
    h2 = SplitMix64(h1 + example_index).next()
    return SplitMix64(h2 + restart)


def permutation_at(code, m):
    """Permutation number `code` of range(m), factorial number system; 0 = identity."""
    unused, out = list(range(m)), []
    for i in range(m):
        f = math.factorial(m - 1 - i)
        out.append(unused.pop(code // f))
        code %= f
    return out


def line_order_at(code):
    """Band-preserving order of 9 lines, number `code` < 1296."""
    bands = permutation_at(code % 6, 3)
    code //= 6
    lines = []
    for slot in range(3):
        lines += [3 * bands[slot] + line for line in permutation_at(code % 6, 3)]
        code //= 6
    return lines


SUDOKU_COUNT = 1296 * 1296 * 2 * math.factorial(9)


def sudoku_symmetry(index):
    rows = line_order_at(index % 1296)
    index //= 1296
    cols = line_order_at(index % 1296)
    index //= 1296
    transpose = index % 2 == 1
    index //= 2
    digits = permutation_at(index, 9)
    source = []
    for i in range(81):
        r, c = rows[i // 9], cols[i % 9]
        if transpose:
            r, c = c, r
        source.append(9 * r + c)
    return source, [0, 1] + [2 + d for d in digits]  # pad, blank, digits 1..9


def maze_symmetry(n, which):
    """Rotation by 90°·(which mod 4) after a mirror c -> n-1-c when which >= 4."""
    source = []
    for r in range(n):
        for c in range(n):
            sr, sc = r, (n - 1 - c if which >= 4 else c)
            for _ in range(which % 4):
                sr, sc = sc, n - 1 - sr
            source.append(sr * n + sc)
    return source, []


def restart_symmetry(kind, seq_len, stream):
    if kind == "sudoku":
        assert seq_len == 81
        index = 1 + stream.below(SUDOKU_COUNT - 1)
        return (index,) + sudoku_symmetry(index)
    n = math.isqrt(seq_len)
    assert n * n == seq_len and n >= 2
    index = 1 + stream.below(8 - 1)
    return (index,) + maze_symmetry(n, index)


if __name__ == "__main__":
    seed, example, restart = (int(a) for a in sys.argv[1:4])
    stream = restart_stream(seed, example, restart)
    if sys.argv[4] == "symmetry":
        index, source, token_map = restart_symmetry(sys.argv[5], int(sys.argv[6]), stream)
        print("index", index)
        print(" ".join(["source"] + [str(s) for s in source]))
        print(" ".join(["token_map"] + [str(t) for t in token_map]))
    elif sys.argv[4] == "noise":
        print(" ".join(["normals"] + [repr(v) for v in stream.normals(int(sys.argv[5]))]))
    else:
        sys.exit("expected 'symmetry' or 'noise', found " + sys.argv[4])
