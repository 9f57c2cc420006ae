"""SPEC §3 portable start directions, independently of the C++ code.

usage: start_directions.py SEED EXAMPLE_INDEX DIM K OUT.npy
"""
import sys
import numpy as np

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def start_directions(seed, example_index, dim, k):
    state = (seed + GOLDEN * example_index) & MASK
    def uniform():
        nonlocal state
        state = (state + GOLDEN) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        z ^= z >> 31
        return 1.0 - (z >> 11) * 2.0 ** -53
    values = []
    while len(values) < dim * k:
        u1, u2 = uniform(), uniform()
        r = np.sqrt(-2.0 * np.log(u1))
        values += [r * np.cos(2 * np.pi * u2), r * np.sin(2 * np.pi * u2)]
    gaussian = np.array(values[:dim * k]).reshape(k, dim).T  # column by column
    q, r = np.linalg.qr(gaussian)  # LAPACK Householder
    return q * np.where(np.diag(r) < 0, -1.0, 1.0)


if __name__ == "__main__":
    seed, example, dim, k = (int(a) for a in sys.argv[1:5])
    np.save(sys.argv[5], start_directions(seed, example, dim, k))
