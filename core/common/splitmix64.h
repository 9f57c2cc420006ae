// The one portable random stream of the measurements: SplitMix64 as written
// down in SPEC §3 ("Portable start directions") and docs/draws.md, so that
// Q_0 and every restart draw (SPEC §5) are reproducible from integers alone by
// any implementation — never a library distribution whose algorithm is
// implementation-defined (std::uniform_int_distribution, std::shuffle,
// mt19937 seeding, torch::randn).
//
// The reference implementations in Python are tests/reference/start_directions.py
// and tests/reference/restart_draws.py; a change here must change them too.
//
// Header-only; a stream is a value (copy it to fork it), not thread-safe.
#ifndef RRM_CORE_COMMON_SPLITMIX64_H_
#define RRM_CORE_COMMON_SPLITMIX64_H_

#include <cmath>
#include <cstddef>
#include <cstdint>

namespace rrm {

class SplitMix64 {
 public:
  static constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;

  // A stream whose next draw advances `state` by kGolden (all arithmetic mod 2^64).
  explicit SplitMix64(uint64_t state) : state_(state) {}

  // SPEC §3: the stream of the start directions, at seed + kGolden·example_index.
  static SplitMix64 ForStartDirections(uint64_t seed, int64_t example_index) {
    return SplitMix64(seed + kGolden * static_cast<uint64_t>(example_index));
  }

  // SPEC §5: the stream of restart `restart` of example `example_index`
  // (docs/draws.md): h1 = first draw of the stream at `seed`,
  // h2 = first draw of the stream at h1 + example_index, start = first draw
  // of the stream at h2 + restart. Hashing each coordinate in turn scatters
  // the starts over 2^64, so streams of nearby triples do not overlap (unlike
  // seed + kGolden·index, whose streams are shifts of one another).
  static SplitMix64 ForRestart(uint64_t seed, int64_t example_index, int32_t restart) {
    const uint64_t h1 = SplitMix64(seed).Next();
    const uint64_t h2 = SplitMix64(h1 + static_cast<uint64_t>(example_index)).Next();
    return SplitMix64(h2 + static_cast<uint64_t>(static_cast<int64_t>(restart)));
  }

  // x += kGolden; z = x; z = (z ^ z>>30)·0xBF58476D1CE4E5B9;
  // z = (z ^ z>>27)·0x94D049BB133111EB; z ^= z>>31.
  uint64_t Next() {
    state_ += kGolden;
    uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  // In (0, 1]: 1 − (z>>11)·2^-53, never 0, so log(u) is finite.
  double Uniform() { return 1.0 - static_cast<double>(Next() >> 11) * 0x1.0p-53; }

  // Uniform on {0, …, n−1} for n ≥ 1, exactly (no modulo bias), by rejection:
  // draws z until z ≥ 2^64 mod n, then returns z mod n. The accepted values
  // number 2^64 − (2^64 mod n), a multiple of n. n = 1 returns 0 after one draw.
  uint64_t Below(uint64_t n) {
    const uint64_t threshold = (0 - n) % n;  // (2^64 − n) mod n = 2^64 mod n
    for (;;) {
      const uint64_t z = Next();
      if (z >= threshold) return z % n;
    }
  }

  // `count` standard normals by Box–Muller in pairs (SPEC §3): u1, u2 from
  // Uniform(); out[i] = sqrt(−2 ln u1)·cos(2π u2), out[i+1] = …·sin(2π u2).
  // An odd count discards the last sine (as the start directions do).
  void FillNormals(double* out, size_t count) {
    for (size_t i = 0; i < count; i += 2) {
      const double u1 = Uniform(), u2 = Uniform();
      const double radius = std::sqrt(-2.0 * std::log(u1));
      out[i] = radius * std::cos(2.0 * M_PI * u2);
      if (i + 1 < count) out[i + 1] = radius * std::sin(2.0 * M_PI * u2);
    }
  }

 private:
  uint64_t state_;
};

}  // namespace rrm

#endif  // RRM_CORE_COMMON_SPLITMIX64_H_
