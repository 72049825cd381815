// Tests of native/core on its own (no Node): the GEMM against a double-precision loop, packing, the softmax's
// exponential against double precision, the thread pool's coverage of every index. Prints one line per failure
// and "core tests: N passed, M failed".
#include <algorithm>
#include <cfloat>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <cstdio>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

#include "../attention.h"
#include "../cpu.h"
#include "../gemm.h"
#include "../mha.h"
#include "../thread_pool.h"

using namespace fastmha;

static int passed = 0, failed = 0;

static void check(bool ok, const char* what, long a = 0, long b = 0, long c = 0) {
  if (ok) {
    ++passed;
  } else {
    ++failed;
    std::printf("FAIL %s (%ld %ld %ld)\n", what, a, b, c);
  }
}

static void testGemm(std::mt19937& rng, ThreadPool& pool, const Kernels& isa, int64_t M, int64_t N, int64_t K,
                     int64_t padA, int64_t padB, bool bias, int threads) {
  std::uniform_real_distribution<float> u(-1, 1);
  const int64_t lda = K + padA, ldc = N + 3;
  const int64_t ldb = N + padB;
  // C has rows to spare below M, poisoned like the rest: a last short panel must not write rows it lacks.
  constexpr int64_t kSpareRows = 8;
  std::vector<float> A(M * lda), B(K * ldb), C((M + kSpareRows) * ldc, std::nanf("")), b(N);
  for (auto& x : A) x = u(rng);
  for (auto& x : B) x = u(rng);
  for (auto& x : b) x = u(rng);
  PackedMatrix packed(B.data(), K, N, ldb, isa);
  gemm(M, A.data(), lda, packed, bias ? b.data() : nullptr, C.data(), ldc, pool, threads);
  double worst = 0;
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      double ref = bias ? b[j] : 0;
      for (int64_t k = 0; k < K; ++k) ref += double(A[i * lda + k]) * B[k * ldb + j];
      const double err = std::fabs(C[i * ldc + j] - ref) / (1 + std::fabs(ref));
      worst = std::isnan(err) ? INFINITY : std::max(worst, err);
    }
    // The padding between rows of C is never written (after the last row: below).
    for (int64_t j = N; j < ldc && i + 1 < M; ++j) worst = std::isnan(C[i * ldc + j]) ? worst : INFINITY;
  }
  for (int64_t j = (M - 1) * ldc + N; j < int64_t(C.size()); ++j) worst = std::isnan(C[j]) ? worst : INFINITY;
  if (!(worst < 1e-5 * std::sqrt(double(K)) + 1e-6)) std::printf("  %s: worst error %g\n", isa.isa, worst);
  check(worst < 1e-5 * std::sqrt(double(K)) + 1e-6, "gemm", M, N, K);
  // Packing is lossless: unpack gives B back.
  std::vector<float> back(K * N);
  packed.unpack(back.data());
  bool same = true;
  for (int64_t k = 0; k < K; ++k) same = same && std::memcmp(&back[k * N], &B[k * ldb], N * sizeof(float)) == 0;
  check(same, "unpack(pack(B)) == B", M, N, K);
}

// C laid out in blocks (GemmOutput): the first `split` columns row-major, the rest in blocks of `group` columns,
// each its own [M, group] matrix; every element where it belongs, nothing written past the blocks.
static void testGemmGroups(std::mt19937& rng, ThreadPool& pool, const Kernels& isa, int64_t M, int64_t split,
                           int64_t group, int64_t blocks, int64_t K, int threads) {
  std::uniform_real_distribution<float> u(-1, 1);
  const int64_t N = split + group * blocks, ld = split + 5;
  std::vector<float> A(M * K), B(K * N), b(N), C(M * ld + 1, std::nanf("")), G(blocks * M * group + 1, std::nanf(""));
  for (auto& x : A) x = u(rng);
  for (auto& x : B) x = u(rng);
  for (auto& x : b) x = u(rng);
  PackedMatrix packed(B.data(), K, N, N, isa);
  gemm(M, A.data(), K, packed, b.data(), GemmOutput{C.data(), ld, split, G.data(), group}, pool, threads);
  double worst = 0;
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      double ref = b[j];
      for (int64_t k = 0; k < K; ++k) ref += double(A[i * K + k]) * B[k * N + j];
      const float got = j < split ? C[i * ld + j] : G[((j - split) / group * M + i) * group + (j - split) % group];
      const double err = std::fabs(got - ref) / (1 + std::fabs(ref));
      worst = std::isnan(err) ? INFINITY : std::max(worst, err);
    }
  }
  const bool untouched = std::isnan(C.back()) && std::isnan(G.back());
  check(worst < 1e-5 && untouched, "gemm into column blocks matches float64", M, N, K);
}

// A kernel's output buffer: n floats and a few more, all NaN, so that an element it leaves unwritten, or one it
// writes past its end, shows.
static std::vector<float> poisoned(size_t n) { return std::vector<float>(n + 16, std::nanf("")); }
// The floats from n on are still NaN: nothing written past the output's end.
static bool untouchedFrom(const std::vector<float>& out, size_t n) {
  return std::all_of(out.begin() + n, out.end(), [](float x) { return std::isnan(x); });
}
// Bitwise equal, so that a NaN or a -0 where +0 was due is a difference.
static bool same(float got, float want) { return std::memcmp(&got, &want, sizeof got) == 0; }

// `rows` rows of `cols` random floats at leading dimension ld, the last one ending where a page that allows no access
// begins: a kernel that reads past the last row's end (a full-width load where a masked one was due) stops there.
class GuardedRows {
 public:
  GuardedRows(std::mt19937& rng, int64_t rows, int64_t cols, int64_t ld)
      : page_(sysconf(_SC_PAGESIZE)), floats_((rows - 1) * ld + cols) {
    bytes_ = (floats_ * int64_t{sizeof(float)} + page_ - 1) / page_ * page_;
    region_ =
        static_cast<char*>(mmap(nullptr, bytes_ + page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    mprotect(region_ + bytes_, page_, PROT_NONE);
    std::uniform_real_distribution<float> u(-1, 1);
    for (int64_t i = 0; i < floats_; ++i) data()[i] = u(rng);
  }
  ~GuardedRows() { munmap(region_, bytes_ + page_); }
  float* data() { return reinterpret_cast<float*>(region_ + bytes_) - floats_; }

 private:
  int64_t page_, floats_, bytes_;
  char* region_;
};

// Packing A: every element lands at [panel][k][row], rows past m are zero, nothing past the panels is written,
// nothing read past the last row.
static void testPackA(std::mt19937& rng, const Kernels& isa, int64_t m, int64_t kc, int64_t lda) {
  const int64_t mr = isa.gemm.mr, panels = (m + mr - 1) / mr;
  GuardedRows guarded(rng, m, kc, lda);
  const float* A = guarded.data();
  std::vector<float> dst = poisoned(panels * mr * kc);
  isa.gemm.packA(A, lda, m, kc, dst.data());
  bool ok = true;
  for (int64_t p = 0; p < panels; ++p) {
    for (int64_t k = 0; k < kc; ++k) {
      for (int64_t i = 0; i < mr; ++i) {
        const int64_t row = p * mr + i;
        const float want = row < m ? A[row * lda + k] : 0.0f;
        ok = ok && same(dst[(p * mr + 0) * kc + k * mr + i], want);
      }
    }
  }
  check(ok && untouchedFrom(dst, panels * mr * kc), "packA places every element", m, kc, lda);
}

// Qᵀ of an attention tile: every element scaled and placed, zero columns past the tile's queries, nothing written
// past NR x dk, nothing read past the last query's row.
static void testTransposeQueries(std::mt19937& rng, const Kernels& isa, int64_t rows, int64_t dk, int64_t ldq) {
  std::uniform_real_distribution<float> u(-1, 1);
  const int64_t nr = isa.gemm.nr;
  GuardedRows guarded(rng, rows, dk, ldq);
  const float* q = guarded.data();
  std::vector<float> dst = poisoned(nr * dk);
  const float scale = 0.125f + u(rng) * 0.01f;
  isa.transposeQueries(q, ldq, rows, dk, scale, dst.data());
  bool ok = true;
  for (int64_t d = 0; d < dk; ++d) {
    for (int64_t c = 0; c < nr; ++c) {
      const float want = c < rows ? scale * q[c * ldq + d] : 0.0f;
      ok = ok && same(dst[d * nr + c], want);
    }
  }
  check(ok && untouchedFrom(dst, nr * dk), "transposeQueries places every query, zero columns after", rows, dk, ldq);
}

// An attention head's values as Vᵀ panels: value d of key s at [d / MR][s][d % MR], zero past dv, nothing written
// past the panels, nothing read past the last key's row.
static void testPackValuesT(std::mt19937& rng, const Kernels& isa, int64_t S, int64_t dv, int64_t ld) {
  const int64_t mr = isa.gemm.mr, panels = (dv + mr - 1) / mr;
  GuardedRows guarded(rng, S, dv, ld);
  const float* v = guarded.data();
  std::vector<float> dst = poisoned(panels * mr * S);
  isa.packValuesT(v, ld, S, dv, dst.data());
  bool ok = true;
  for (int64_t p = 0; p < panels; ++p) {
    for (int64_t s = 0; s < S; ++s) {
      for (int64_t i = 0; i < mr; ++i) {
        const int64_t d = p * mr + i;
        const float want = d < dv ? v[s * ld + d] : 0.0f;
        ok = ok && same(dst[(p * S + s) * mr + i], want);
      }
    }
  }
  check(ok && untouchedFrom(dst, panels * mr * S), "packValuesT places every value, zero rows after", S, dv, ld);
}

// Query-by-query attention against double precision: keys as lanes (up to 16) and a dot product per key (more),
// queries not a multiple of four, head sizes past whole vector blocks, a mask that hides a query's every key
// (zeros), probabilities, and out written over q itself. Outputs poisoned first.
static void testAttendRows(std::mt19937& rng, const Kernels& isa, int64_t T, int64_t S, int64_t dk, int64_t dv,
                           bool masked, bool inPlace) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  const int64_t ldq = dk + 3, ldk = dk + 1, ldv = dv + 2, ldo = inPlace ? ldq : dv + 5;
  std::vector<float> q(T * ldq), k(S * ldk), v(S * ldv);
  for (auto& x : q) x = u(rng);
  for (auto& x : k) x = u(rng);
  for (auto& x : v) x = u(rng);
  std::vector<uint8_t> allowed(T * S);
  for (int64_t i = 0; i < T * S; ++i) allowed[i] = !masked || (i * 7 + 3) % 5 != 0;
  if (masked) std::fill(allowed.begin(), allowed.begin() + S, 0);  // query 0 sees nothing
  const float scale = 0.3f;
  std::vector<float> outStore = poisoned(T * ldo), probs = poisoned(T * S);
  std::vector<float> qIn = q;  // q as it was, for the reference (out may overwrite it)
  float* out = inPlace ? q.data() : outStore.data();
  if (inPlace) {
    for (int64_t t = 0; t < T; ++t) std::fill(q.begin() + t * ldq + dk, q.begin() + (t + 1) * ldq, NAN);
  }
  std::vector<float> work(attendRowsWorkFloats(S, dk) + 16);
  isa.attendRows(q.data(), ldq, k.data(), ldk, v.data(), ldv, T, S, dk, dv, scale, masked ? allowed.data() : nullptr,
                 out, ldo, probs.data(), work.data());
  double worst = 0;
  bool finite = true;
  for (int64_t t = 0; t < T; ++t) {
    std::vector<double> w(S, 0.0);
    double top = -INFINITY, sum = 0;
    for (int64_t s = 0; s < S; ++s) {
      if (!allowed[t * S + s]) continue;
      double dot = 0;
      for (int64_t d = 0; d < dk; ++d) dot += double(qIn[t * ldq + d]) * k[s * ldk + d];
      w[s] = dot * scale;
      top = std::max(top, w[s]);
    }
    for (int64_t s = 0; s < S; ++s) sum += w[s] = allowed[t * S + s] ? std::exp(w[s] - top) : 0.0;
    for (int64_t s = 0; s < S; ++s) {
      const double p = sum > 0 ? w[s] / sum : 0.0;
      finite = finite && std::isfinite(probs[t * S + s]);
      worst = std::max(worst, std::fabs(probs[t * S + s] - p));
    }
    for (int64_t d = 0; d < dv; ++d) {
      double want = 0;
      for (int64_t s = 0; s < S; ++s) want += (sum > 0 ? w[s] / sum : 0.0) * v[s * ldv + d];
      finite = finite && std::isfinite(out[t * ldo + d]);
      worst = std::max(worst, std::fabs(out[t * ldo + d] - want));
    }
  }
  check(finite && worst < 2e-5, "attendRows against double precision", T, S, dk * 1000 + dv);
}

// NaN through query-by-query attention, as through the online softmax (testSoftmaxNaN): query 1 is NaN, key 2 holds
// a NaN that query 0 may not attend, and query 3 may attend nothing. Rows 1, 2 and 4 come out NaN, probabilities
// and context; row 0 finite, its probabilities summing to 1; row 3 zeros. Outputs poisoned with a finite value.
static void testAttendRowsNaN(std::mt19937& rng, const Kernels& isa, int64_t S) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  const int64_t T = 5, dk = 19, dv = 21;
  std::vector<float> q(T * dk), k(S * dk), v(S * dv);
  for (auto& x : q) x = u(rng);
  for (auto& x : k) x = u(rng);
  for (auto& x : v) x = u(rng);
  std::fill(q.begin() + dk, q.begin() + 2 * dk, NAN);
  k[2 * dk + 7] = NAN;
  std::vector<uint8_t> allowed(T * S, 1);
  allowed[0 * S + 2] = 0;
  std::fill(allowed.begin() + 3 * S, allowed.begin() + 4 * S, 0);
  std::vector<float> out(T * dv, 7.0f), probs(T * S, 7.0f), work(attendRowsWorkFloats(S, dk) + 16);
  isa.attendRows(q.data(), dk, k.data(), dk, v.data(), dv, T, S, dk, dv, 0.3f, allowed.data(), out.data(), dv,
                 probs.data(), work.data());
  auto all = [](const float* x, int64_t n, auto&& test) { return std::all_of(x, x + n, test); };
  auto isNaN = [](float x) { return std::isnan(x); };
  bool nanRows = true;
  for (int64_t t : {1, 2, 4}) nanRows = nanRows && all(&out[t * dv], dv, isNaN) && all(&probs[t * S], S, isNaN);
  double sum = 0;
  for (int64_t s = 0; s < S; ++s) sum += probs[s];
  const bool row0 = all(&out[0], dv, [](float x) { return std::isfinite(x); }) && std::fabs(sum - 1) < 1e-5;
  const auto zero = [](float x) { return x == 0.0f; };
  const bool row3 = all(&out[3 * dv], dv, zero) && all(&probs[3 * S], S, zero);
  check(nanRows && row0 && row3, "attendRows: NaN reaches the rows that read it, and only them", S);
}

// Distance in units in the last place between two positive floats.
static int64_t ulps(float a, float b) {
  int32_t ia, ib;
  std::memcpy(&ia, &a, sizeof ia);
  std::memcpy(&ib, &b, sizeof ib);
  return std::llabs(int64_t{ia} - int64_t{ib});
}

// The online softmax's exponential, through the kernel itself: one block whose first row is 0 (the maximum, so
// the shift is 0) gives 2^x for every other entry (scores arrive in base 2, kernels.h), against exp2 in double
// precision, down to the clamp at 2^-125. Masked (-inf) entries must come out exactly 0, and the sums must match.
static void testSoftmaxExp(std::mt19937& rng, const Kernels& isa) {
  const int nr = isa.gemm.nr;
  const int64_t keys = 4097;
  std::uniform_real_distribution<float> u(-125.0f, 0.0f);
  std::vector<float> s(keys * nr), x;
  for (int64_t k = 0; k < keys; ++k) {
    for (int c = 0; c < nr; ++c) s[k * nr + c] = k == 0 ? 0.0f : k < 8 ? -1e-7f * k * (c + 1) : u(rng);
  }
  s[5 * nr + 1] = -INFINITY;
  s[9 * nr + 2] = -125.0f;
  // Below the exponential's range: a weight of at most 2^-124 (0 included), never a denormal, never NaN. Between
  // -127 and -125 too, where a split of x at the nearest integer makes denormals: steps of 1/8 cover both halves of
  // each power of 2 there.
  s[10 * nr + 3] = -140.0f;
  s[11 * nr + 4] = -1e30f;
  for (int i = 0; i < 17; ++i) s[(12 + i) * nr + i % nr] = -125.0f - 0.125f * (i + 1);
  x = s;
  std::vector<float> m(nr, -INFINITY), l(nr, 0.0f), alpha(nr, -1.0f);
  isa.onlineSoftmax(s.data(), keys, m.data(), l.data(), alpha.data());
  int64_t worst = 0;
  bool exact = true, sums = true, tiny = true;
  for (int c = 0; c < nr; ++c) {
    double sum = 0;
    for (int64_t k = 0; k < keys; ++k) {
      const float got = s[k * nr + c];
      if (x[k * nr + c] == -INFINITY) {
        exact = exact && got == 0.0f;
        continue;
      }
      if (x[k * nr + c] < -125.0f) {
        tiny = tiny && (got == 0.0f || (got >= FLT_MIN && got <= 0x1p-124f));
        continue;
      }
      const double want = std::exp2(double(x[k * nr + c]));
      sum += want;
      worst = std::max(worst, ulps(got, float(want)));
    }
    sums = sums && std::fabs(l[c] - sum) <= 1e-5 * sum && m[c] == 0.0f && alpha[c] == 0.0f;
  }
  std::printf("kernels %s: 2^x within %lld ulp on [-125, 0]\n", isa.isa, static_cast<long long>(worst));
  check(worst <= 2, "softmax 2^x within 2 ulp", worst);
  check(exact, "softmax gives masked entries exactly 0");
  check(tiny, "softmax weights below 2^-125: at most 2^-124, never denormal");
  check(sums, "softmax running maximum, sum and rescale factor");
}

// NaN scores through two blocks of the online softmax. Query (column) 0 has one NaN score in the first block, 1 only
// NaN scores (a NaN query), 2 one NaN in the second block: each ends with a NaN sum, which its output is divided by,
// and its NaN scores get NaN weights. Column 3 is masked throughout: sum 0, zeros, as with no NaN beside it. The
// others are finite, their maxima and sums those of double precision over both blocks.
static void testSoftmaxNaN(std::mt19937& rng, const Kernels& isa) {
  const int nr = isa.gemm.nr;
  const int64_t keys = 37;
  std::uniform_real_distribution<float> u(-8.0f, 8.0f);
  std::vector<float> blocks[2] = {std::vector<float>(keys * nr), std::vector<float>(keys * nr)};
  for (auto& block : blocks) {
    for (auto& x : block) x = u(rng);
    for (int64_t k = 0; k < keys; ++k) block[k * nr + 1] = NAN, block[k * nr + 3] = -INFINITY;
  }
  blocks[0][5 * nr] = NAN;
  blocks[1][(keys - 1) * nr + 2] = NAN;
  const std::vector<float> scores[2] = {blocks[0], blocks[1]};
  std::vector<float> m(nr, -INFINITY), l(nr, 0.0f), alpha(nr);
  bool nanWeights = true, zeros = true, finite = true;
  for (int i = 0; i < 2; ++i) {
    isa.onlineSoftmax(blocks[i].data(), keys, m.data(), l.data(), alpha.data());
    for (int64_t k = 0; k < keys; ++k) {
      for (int c = 0; c < nr; ++c) {
        const float w = blocks[i][k * nr + c];
        if (c == 3) zeros = zeros && w == 0.0f;
        else if (std::isnan(scores[i][k * nr + c])) nanWeights = nanWeights && std::isnan(w);
        else if (c > 3) finite = finite && std::isfinite(w);
      }
    }
  }
  bool sums = true;
  for (int c = 4; c < nr; ++c) {
    double top = -INFINITY, sum = 0;
    for (auto& s : scores) {
      for (int64_t k = 0; k < keys; ++k) top = std::max(top, double(s[k * nr + c]));
    }
    for (auto& s : scores) {
      for (int64_t k = 0; k < keys; ++k) sum += std::exp2(s[k * nr + c] - top);
    }
    sums = sums && m[c] == float(top) && std::fabs(l[c] - sum) <= 1e-5 * sum;
  }
  check(nanWeights, "softmax: a NaN score's weight is NaN");
  check(std::isnan(l[0]) && std::isnan(l[1]) && std::isnan(l[2]), "softmax: a NaN score makes its query's sum NaN");
  check(zeros && l[3] == 0.0f && m[3] == -INFINITY && alpha[3] == 1.0f, "softmax: a masked query beside NaN ones");
  check(finite && sums, "softmax: queries without NaN keep their maxima and sums");
}

static void testParallelFor(ThreadPool& pool, int64_t n, int64_t grain, int maxThreads) {
  std::vector<int> hits(n, 0);
  pool.parallelFor(n, grain, maxThreads, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) ++hits[i];
  });
  bool once = true;
  for (int h : hits) once = once && h == 1;
  check(once, "parallelFor covers each index once", n, grain, maxThreads);
}

// Many short regions back to back, inside a Session (workers spinning) and outside (workers asleep): helpers join
// late or not at all, and their places are taken back while others are still claiming them.
static void testShortRegions(ThreadPool& pool) {
  std::vector<std::atomic<int>> hits(64);
  bool once = true;
  for (int round = 0; round < 4000; ++round) {
    std::unique_ptr<ThreadPool::Session> session(round % 2000 < 1000 ? new ThreadPool::Session(pool) : nullptr);
    const int64_t n = 1 + round % 64;
    for (int64_t i = 0; i < n; ++i) hits[i].store(0);
    pool.parallelFor(n, 1, 8, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) hits[i].fetch_add(1);
    });
    for (int64_t i = 0; i < n; ++i) once = once && hits[i].load() == 1;
  }
  check(once, "short regions back to back cover each index once");
}

// Forwards run by the dispatcher (submit), back to back and with pauses between them, each a Session of regions:
// after a job its helpers poll a while for the next region, then sleep. Every index of every region is covered
// once, whichever state a helper was in when a region came.
static void testJobsOfRegions(ThreadPool& pool) {
  constexpr int kJobs = 300, kRegions = 3, kN = 48;
  std::vector<std::atomic<int>> hits(kJobs * kRegions * kN);
  std::mutex m;
  std::condition_variable cv;
  int done = 0;
  for (int job = 0; job < kJobs; ++job) {
    pool.submit([&, job] {
      {
        ThreadPool::Session session(pool);
        for (int region = 0; region < kRegions; ++region) {
          std::atomic<int>* at = &hits[(job * kRegions + region) * kN];
          pool.parallelFor(kN, 1 + region, 8, [&](int64_t begin, int64_t end) {
            for (int64_t i = begin; i < end; ++i) at[i].fetch_add(1);
          });
        }
      }
      std::lock_guard<std::mutex> lock(m);
      if (++done == kJobs) cv.notify_all();
    });
    // Every 50th job waits past the dispatcher's poll, so that the next finds the pool asleep.
    if (job % 50 == 49) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  {
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [&] { return done == kJobs; });
  }
  check(std::all_of(hits.begin(), hits.end(), [](const std::atomic<int>& h) { return h.load() == 1; }),
        "regions of submitted jobs, back to back or after a pause, cover each index once");
}

static bool allNaN(const std::vector<float>& v) {
  return std::all_of(v.begin(), v.end(), [](float x) { return std::isnan(x); });
}

// A product given up on before it starts computes no block of C (three blocks of MC rows, on three threads).
static void testCancelledGemm(std::mt19937& rng, ThreadPool& pool) {
  std::uniform_real_distribution<float> u(-1, 1);
  const Kernels& isa = kernels();
  const int64_t M = 3 * isa.gemm.mc, N = 40, K = 9;
  std::vector<float> A(M * K), B(K * N), C(M * N, NAN);
  for (auto& x : A) x = u(rng);
  for (auto& x : B) x = u(rng);
  PackedMatrix packed(B.data(), K, N, N, isa);
  std::atomic<bool> cancelled{true};
  gemm(M, A.data(), K, packed, nullptr, C.data(), N, pool, 3, &cancelled);
  check(allNaN(C), "a product given up on computes nothing");
}

// A forward given up on before it starts (aborted while queued) writes nothing; the same one not given up on writes
// every output.
static void testCancelledForward(std::mt19937& rng, ThreadPool& pool) {
  std::uniform_real_distribution<float> u(-1, 1);
  LayerDims d;
  d.numHeads = 2, d.keyDim = d.valueDim = 8, d.queryDim = d.keyInputDim = d.valueInputDim = d.outputDim = 16;
  std::vector<float> w(16 * 16), bias(16, 0.5f);
  for (auto& x : w) x = u(rng);
  Layer layer(d,
              WeightsView{w.data(), bias.data(), w.data(), bias.data(), w.data(), bias.data(), w.data(), bias.data()});
  const int64_t B = 2, T = 40;
  std::vector<float> x(B * T * 16), out(B * T * 16, NAN);
  for (auto& v : x) v = u(rng);
  std::atomic<bool> cancelled{true};
  ForwardArgs f;
  f.batch = B, f.queryLen = f.keyLen = T, f.query = f.key = f.value = x.data(), f.output = out.data();
  f.cancelled = &cancelled;
  layer.forward(f, pool, 3);
  check(allNaN(out), "a forward given up on before it starts writes nothing");
  cancelled = false;
  layer.forward(f, pool, 3);
  check(std::all_of(out.begin(), out.end(), [](float v) { return std::isfinite(v); }),
        "not given up on, it writes all");
}

// Each of the attention's schedules (query by query, a task per (batch, head), tiles of shared heads) checks the flag
// before each task: set, none runs and the context is left as it was.
static void testCancelledAttention(std::mt19937& rng, ThreadPool& pool, int64_t B, int64_t H, int64_t T) {
  std::uniform_real_distribution<float> u(-1, 1);
  const int64_t D = 8, width = H * D;
  std::vector<float> q(B * T * width), k(B * T * width), v(B * T * width), context(B * T * width, NAN);
  for (auto* a : {&q, &k, &v})
    for (auto& x : *a) x = u(rng);
  std::atomic<bool> cancelled{true};
  AttentionArgs a;
  a.batch = B, a.heads = H, a.queryLen = a.keyLen = T, a.keyDim = a.valueDim = D;
  a.queries = q.data(), a.keys = k.data(), a.values = v.data();
  a.queryStride = a.keyStride = a.valueStride = a.contextStride = width;
  a.keyHeadStride = a.valueHeadStride = D;
  a.context = context.data();
  a.cancelled = &cancelled;
  attention(a, pool, 3);
  check(allNaN(context), "attention given up on runs no task", B, H, T);
}

// --expect-default ISA: also check the table chosen for this CPU (run under qemu with older CPU models).
int main(int argc, char** argv) {
  // test/core.test.ts checks that its sanitized builds are what they claim.
#ifdef __SANITIZE_ADDRESS__
  std::printf("built with AddressSanitizer\n");
#endif
#ifdef __SANITIZE_THREAD__
  std::printf("built with ThreadSanitizer\n");
#endif
  if (argc == 3 && std::string(argv[1]) == "--expect-default") {
    check(std::string(kernels().isa) == argv[2], "default kernels match the CPU");
    std::printf("default kernels: %s\n", kernels().isa);
  }
  std::mt19937 rng(12345);
  ThreadPool pool(3);
  // Every kernel table this CPU runs, on shapes around each tile and block size (MR, NR, MC, KC and NC of every
  // ISA): 1, primes, non-multiples, and sizes that cross a KC or NC boundary.
  const int64_t sizes[][3] = {
      {1, 1, 1},      {1, 7, 3},     {3, 1, 5},      {2, 33, 2},    {17, 33, 13},   {15, 31, 17},   {14, 32, 256},
      {29, 65, 257},  {113, 97, 3},  {257, 31, 129}, {5, 300, 2},   {97, 513, 300}, {320, 512, 64}, {1, 1025, 37},
      {224, 64, 520}, {33, 65, 800}, {15, 40, 1537}, {1, 1100, 500}};  // the last: one row, on threads by B's bytes
  const char* isas[] = {"scalar", "avx2", "avx512", "neon"};
  for (const char* name : isas) {
    const Kernels* isa = kernelsFor(name);
    if (!isa) continue;
    std::printf("kernels %s: MR %d NR %d\n", isa->isa, isa->gemm.mr, isa->gemm.nr);
    int variant = 0;
    for (auto& s : sizes) {
      for (int threads : {1, 3}) {
        ++variant;
        testGemm(rng, pool, *isa, s[0], s[1], s[2], variant % 3, variant % 2 * 5, variant % 2 == 0, threads);
      }
    }
    // Every row count of a last, short panel: each has its own tile in a kernel (and its own masks in packing).
    for (int64_t m = 1; m <= 2 * isa->gemm.mr + 1; ++m) {
      testGemm(rng, pool, *isa, m, 45, 19, m % 3, 0, m % 2 == 0, 1);
      testGemm(rng, pool, *isa, m, 48, isa->gemm.kc + 5, 0, 0, m % 2 == 1, 1);  // C read back after the first KC
      for (int64_t kc : {1, 15, 16, 17, 33, 256}) testPackA(rng, *isa, m, kc, kc + m % 3);
    }
    testPackA(rng, *isa, 33, 17, 19);
    const int64_t nr = isa->gemm.nr;
    for (int threads : {1, 3}) {
      testGemmGroups(rng, pool, *isa, 37, nr, 2 * nr, 2, 19, threads);  // a query block, then keys and values
      testGemmGroups(rng, pool, *isa, 1, 0, nr, 3, 5, threads);         // every column in blocks
      testGemmGroups(rng, pool, *isa, 300, 2 * nr, nr, 4, 70, threads);
    }
    testSoftmaxExp(rng, *isa);
    testSoftmaxNaN(rng, *isa);
    for (int64_t rows : {int64_t{1}, int64_t{3}, nr / 2 - 1, nr / 2, nr / 2 + 1, nr - 1, nr}) {
      for (int64_t dk : {1, 7, 16, 17, 33, 64}) testTransposeQueries(rng, *isa, rows, dk, dk + rows % 5);
    }
    testTransposeQueries(rng, *isa, nr, 64, 3 * 768);
    for (int64_t dv = 1; dv <= 2 * isa->gemm.mr + 1; ++dv) {
      for (int64_t S : {1, 2, 17, 33}) testPackValuesT(rng, *isa, S, dv, dv + S % 3);
    }
    testPackValuesT(rng, *isa, 257, 64, 3 * 512);
    for (int64_t S : {1, 3, 4, 5, 8, 9, 16, 17, 33}) {  // both sides of one register of keys (4, 8) and of 16
      testAttendRows(rng, *isa, 7, S, 67, 83, S % 2 == 1, false);
      testAttendRows(rng, *isa, 5, S, 64, 64, true, true);
      testAttendRows(rng, *isa, 1, S, 3, 5, false, false);
      if (S >= 3) testAttendRowsNaN(rng, *isa, S);
    }
  }
  for (int64_t n : {1, 2, 17, 1000}) {
    for (int64_t grain : {1, 3, 64}) {
      for (int threads : {1, 2, 3, 8}) testParallelFor(pool, n, grain, threads);
    }
  }
  testShortRegions(pool);
  testJobsOfRegions(pool);
  testCancelledGemm(rng, pool);
  testCancelledForward(rng, pool);
  testCancelledAttention(rng, pool, 2, 2, 5);    // query by query
  testCancelledAttention(rng, pool, 16, 8, 40);  // a task per (batch, head)
  testCancelledAttention(rng, pool, 1, 2, 300);  // tiles of heads packed for every thread
  pool.resize(1);
  testParallelFor(pool, 100, 1, 8);
  pool.resize(4);
  testParallelFor(pool, 100, 1, 8);
  testGemm(rng, pool, kernels(), 33, 17, 9, 1, 0, true, 4);

  int ran = 0;
  std::mutex m;
  std::condition_variable cv;
  std::vector<int> order;
  for (int i = 0; i < 5; ++i) {
    pool.submit([&, i] {
      std::lock_guard<std::mutex> lock(m);
      order.push_back(i);
      if (++ran == 5) cv.notify_all();
    });
  }
  {
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [&] { return ran == 5; });
  }
  check(order == std::vector<int>({0, 1, 2, 3, 4}), "submitted jobs run in order");
  check(availableCpus() >= 1, "availableCpus");
  check(kernels().gemm.ukernel != nullptr && kernelsFor("scalar") != nullptr, "dispatch table filled");
#if defined(__x86_64__)
  using Isas = std::vector<std::string>;
  const Isas zen4 = {"sse2", "avx", "fma", "avx2", "avx512f", "avx512dq", "avx512bw", "avx512vl"};
  check(isasFor(zen4) == Isas({"avx512", "avx2", "scalar"}), "AVX-512 with DQ, BW and VL: every path");
  check(isasFor({"sse2", "avx", "fma", "avx2", "avx512f"}) == Isas({"avx2", "scalar"}),
        "AVX-512F alone (Xeon Phi): not the avx512 kernels, compiled with DQ, BW and VL");
  check(isasFor({"sse2", "avx", "avx2"}) == Isas({"scalar"}), "AVX2 without FMA: scalar");
#endif

  std::printf("core tests: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
