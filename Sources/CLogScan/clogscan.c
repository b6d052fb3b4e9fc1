#define _GNU_SOURCE
#include "clogscan.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* Bytes by how common they are in log text, the most common first (digits, spaces and
   punctuation of access logs, then lower-case letters by English frequency, then upper case);
   a byte not listed is rarer than all. The fingerprint of a literal is its two rarest bytes. */
static const char common_bytes[] =
    " 0123456789.:/-etaoinsrhldcu\"=?&_mpfgywb,;()[]+vkTSEAxRIONLCPDMHGFWBUjqzYVKJXQZ\t%*#@!'<>|{}~^$\\`";

static int byte_rank(uint8_t b) {   /* higher = more common */
    const char *at = memchr(common_bytes, b, sizeof common_bytes - 1);
    return at ? (int)(sizeof common_bytes - (size_t)(at - common_bytes)) : 0;
}

static inline uint8_t fold(uint8_t b) { return (uint8_t)(b - 'A') < 26 ? (uint8_t)(b | 0x20) : b; }
static inline int is_word(uint8_t b) {
    return (uint8_t)((b | 0x20) - 'a') < 26 || (uint8_t)(b - '0') < 10 || b == '_';
}
static inline int is_letter(uint8_t b) { return (uint8_t)((b | 0x20) - 'a') < 26; }

void opsh_lits_init(opsh_lits *s, int fold, int bounded) {
    memset(s, 0, sizeof *s);
    s->fold = fold;
    s->bounded = bounded;
}

int opsh_lits_add(opsh_lits *s, const uint8_t *lit, uint32_t len) {
    if (s->count >= OPSH_LITS_MAX || len == 0) return 0;
    int k = s->count++;
    s->lit[k] = lit;
    s->len[k] = len;
    uint32_t m = len < 256 ? len : 256;
    int best = 0, second = -1;
    for (uint32_t j = 1; j < m; j++)
        if (byte_rank(lit[j]) < byte_rank(lit[best])) best = (int)j;
    for (uint32_t j = 0; j < m; j++)
        if ((int)j != best && (second < 0 || byte_rank(lit[j]) < byte_rank(lit[second]))) second = (int)j;
    if (second < 0) second = best;
    if (second < best) { int t = best; best = second; second = t; }
    s->off1[k] = (uint8_t)best; s->off2[k] = (uint8_t)second;
    s->b1[k] = lit[best]; s->b2[k] = lit[second];
    s->or1[k] = s->fold && is_letter(s->b1[k]) ? 0x20 : 0;
    s->or2[k] = s->fold && is_letter(s->b2[k]) ? 0x20 : 0;
    if (second > s->maxoff) s->maxoff = second;
    /* Teddy's tables, rebuilt for every literal so far (the width may shrink) */
    memset(s->tlo, 0, sizeof s->tlo);
    memset(s->thi, 0, sizeof s->thi);
    s->twidth = 3;
    for (int q = 0; q < s->count; q++) if ((int)s->len[q] < s->twidth) s->twidth = (int)s->len[q];
    for (int q = 0; q < s->count; q++)
        for (int j = 0; j < s->twidth; j++) {
            uint8_t b = s->lit[q][j];
            s->tlo[j][b & 15] |= (uint8_t)(1u << q);
            s->thi[j][b >> 4] |= (uint8_t)(1u << q);
            if (s->fold && is_letter(b)) s->thi[j][(b & 0xDF) >> 4] |= (uint8_t)(1u << q);
        }
    for (int j = s->twidth; j < 3; j++) { memset(s->tlo[j], 0xFF, 16); memset(s->thi[j], 0xFF, 16); }
    memset(s->bytes, 0, sizeof s->bytes);
    for (int q = 0; q < s->count; q++)
        for (int j = 0; j < s->twidth; j++) {
            uint8_t b = s->lit[q][j] & 0x7F;
            s->bytes[j][b] |= (uint8_t)(1u << q);
            if (s->fold && is_letter(b)) s->bytes[j][b & 0xDF] |= (uint8_t)(1u << q);
        }
    for (int j = s->twidth; j < 3; j++) memset(s->bytes[j], 0xFF, 128);
    return 1;
}

/* Whether one of the literals starts at i. */
static int verify_at(const opsh_lits *s, const uint8_t *p, size_t n, size_t i) {
    for (int k = 0; k < s->count; k++) {
        size_t m = s->len[k];
        if (i + m > n) continue;
        const uint8_t *l = s->lit[k];
        size_t j = 0;
        if (s->fold) { while (j < m && fold(p[i + j]) == l[j]) j++; }
        else { while (j < m && p[i + j] == l[j]) j++; }
        if (j < m) continue;
        if (s->bounded) {
            if (i > 0 && is_word(p[i - 1])) continue;
            if (i + m < n && is_word(p[i + m])) continue;
        }
        return 1;
    }
    return 0;
}

/* The first candidate of a vector's mask (bit j: position i + j) that verifies, or n. */
static inline size_t verify_mask(const opsh_lits *s, const uint8_t *p, size_t n, size_t i, uint32_t m) {
    while (m) {
        size_t at = i + (size_t)__builtin_ctz(m);
        if (verify_at(s, p, n, at)) return at;
        m &= m - 1;
    }
    return n;
}

static size_t find_scalar(const opsh_lits *s, const uint8_t *p, size_t n, size_t i) {
    for (; i < n; i++) {
        for (int k = 0; k < s->count; k++) {
            if (i + s->len[k] > n) continue;
            if ((p[i + s->off1[k]] | s->or1[k]) != s->b1[k] || (p[i + s->off2[k]] | s->or2[k]) != s->b2[k]) continue;
            if (verify_at(s, p, n, i)) return i;
            break;
        }
    }
    return n;
}

#if defined(__x86_64__)
static size_t find_sse2(const opsh_lits *s, const uint8_t *p, size_t n, size_t i) {
    __m128i b1[OPSH_LITS_MAX], b2[OPSH_LITS_MAX], o1[OPSH_LITS_MAX], o2[OPSH_LITS_MAX];
    const int c = s->count;
    for (int k = 0; k < c; k++) {
        b1[k] = _mm_set1_epi8((char)s->b1[k]); b2[k] = _mm_set1_epi8((char)s->b2[k]);
        o1[k] = _mm_set1_epi8((char)s->or1[k]); o2[k] = _mm_set1_epi8((char)s->or2[k]);
    }
    while (i + (size_t)s->maxoff + 16 <= n) {
        __m128i acc = _mm_setzero_si128();
        for (int k = 0; k < c; k++) {
            __m128i a = _mm_or_si128(_mm_loadu_si128((const __m128i *)(p + i + s->off1[k])), o1[k]);
            __m128i b = _mm_or_si128(_mm_loadu_si128((const __m128i *)(p + i + s->off2[k])), o2[k]);
            acc = _mm_or_si128(acc, _mm_and_si128(_mm_cmpeq_epi8(a, b1[k]), _mm_cmpeq_epi8(b, b2[k])));
        }
        size_t at = verify_mask(s, p, n, i, (uint32_t)_mm_movemask_epi8(acc));
        if (at < n) return at;
        i += 16;
    }
    return find_scalar(s, p, n, i);
}

/* How far ahead the first pass over mapped text asks for it: a page. The processor's own
   prefetcher stops at every 4 KiB page (the next one may lie anywhere), so each page began with
   a wait for memory; asked a page ahead, it is there when the loop arrives (§23: the newline
   count over the mapped GiB took a quarter less time). */
#define PREFETCH_AHEAD 4096

/* Teddy (Hyperscan's, as ripgrep uses it) for up to eight literals, one per bucket: the first
   (up to) three bytes of every position are looked up at once in two 16-byte tables each, by
   their low and their high nibble (PSHUFB); a table entry has bit k set when literal k's byte
   there has that nibble (both cases' when folded). A position whose three lookups share a bit
   is a candidate of that literal, verified then; with one literal per bucket a candidate has
   the literal's first three bytes exactly. About 20 instructions per 32 bytes, whatever the
   number of literals. */
__attribute__((target("avx2")))
static size_t find_teddy_avx2(const opsh_lits *s, const uint8_t *p, size_t n, size_t i) {
    const __m256i nib = _mm256_set1_epi8(0x0F);
    __m256i lo[3], hi[3];
    for (int j = 0; j < 3; j++) {
        lo[j] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)s->tlo[j]));
        hi[j] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)s->thi[j]));
    }
    const __m256i zero = _mm256_setzero_si256();
    while (i + 2 + 32 <= n) {
        _mm_prefetch((const char *)p + i + PREFETCH_AHEAD, _MM_HINT_T0);
        __m256i r = _mm256_set1_epi8(-1);
        for (int j = 0; j < 3; j++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(p + i + j));
            __m256i l = _mm256_shuffle_epi8(lo[j], _mm256_and_si256(v, nib));
            __m256i h = _mm256_shuffle_epi8(hi[j], _mm256_and_si256(_mm256_srli_epi16(v, 4), nib));
            r = _mm256_and_si256(r, _mm256_and_si256(l, h));
        }
        size_t at = verify_mask(s, p, n, i, ~(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(r, zero)));
        if (at < n) return at;
        i += 32;
    }
    return find_sse2(s, p, n, i);
}

/* Teddy with 64 positions a step on AVX-512 VBMI: each prefix byte is looked up whole, in a
   128-entry table (VPERMI2B over two registers), one instruction where the nibble tables take
   five; a byte above 0x7F reads its low seven bits' entry, a candidate the verification drops.
   The nibble form on AVX-512BW did two PSHUFBs a byte on the one port that shuffles 512 bits:
   as fast as the memory alone, up to twice as slow with the other core searching too (§24). */
static inline size_t verify_mask64(const opsh_lits *s, const uint8_t *p, size_t n, size_t i, uint64_t m) {
    while (m) {
        size_t at = i + (size_t)__builtin_ctzll(m);
        if (verify_at(s, p, n, at)) return at;
        m &= m - 1;
    }
    return n;
}

typedef struct { __m512i lo[3], hi[3]; } byte_tables;

__attribute__((target("avx512f,avx512bw,avx512vbmi")))
static inline byte_tables load_byte_tables(const opsh_lits *s) {
    byte_tables t;
    for (int j = 0; j < 3; j++) {
        t.lo[j] = _mm512_loadu_si512((const void *)s->bytes[j]);
        t.hi[j] = _mm512_loadu_si512((const void *)(s->bytes[j] + 64));
    }
    return t;
}

/* Bit j: a candidate starts at p + j (the 64 bytes at p, p + 1 and p + 2 are read). */
__attribute__((target("avx512f,avx512bw,avx512vbmi")))
static inline uint64_t candidates_vbmi(const byte_tables *t, __m512i v0, const uint8_t *p) {
    __m512i r0 = _mm512_permutex2var_epi8(t->lo[0], v0, t->hi[0]);
    __m512i r1 = _mm512_permutex2var_epi8(t->lo[1], _mm512_loadu_si512((const void *)(p + 1)), t->hi[1]);
    __m512i r2 = _mm512_permutex2var_epi8(t->lo[2], _mm512_loadu_si512((const void *)(p + 2)), t->hi[2]);
    __m512i r = _mm512_ternarylogic_epi64(r0, r1, r2, 0x80);   /* r0 & r1 & r2 */
    return (uint64_t)_mm512_test_epi8_mask(r, r);
}

__attribute__((target("avx512f,avx512bw,avx512vbmi")))
static size_t find_teddy_vbmi(const opsh_lits *s, const uint8_t *p, size_t n, size_t i) {
    const byte_tables t = load_byte_tables(s);
    while (i + 2 + 64 <= n) {
        _mm_prefetch((const char *)p + i + PREFETCH_AHEAD, _MM_HINT_T0);
        uint64_t cand = candidates_vbmi(&t, _mm512_loadu_si512((const void *)(p + i)), p + i);
        size_t at = cand ? verify_mask64(s, p, n, i, cand) : n;
        if (at < n) return at;
        i += 64;
    }
    return find_teddy_avx2(s, p, n, i);
}

/* find_teddy_vbmi that also counts the newlines it passes and notes the first NUL: the
   search and the line count in one pass over the text (each was a pass of its own, and the
   first waited for memory, §23). Newlines in p[i..result) are added to *lines; *nul (n when
   none seen yet) becomes the first NUL in p[i..result) if there is one. */
__attribute__((target("avx512f,avx512bw,avx512vbmi")))
static size_t find_lines_vbmi(const opsh_lits *s, const uint8_t *p, size_t n, size_t i, size_t *lines, size_t *nul) {
    const __m512i nl = _mm512_set1_epi8('\n'), zero = _mm512_setzero_si512();
    const byte_tables t = load_byte_tables(s);
    size_t count = 0, z = *nul;
    while (i + 2 + 64 <= n) {
        _mm_prefetch((const char *)p + i + PREFETCH_AHEAD, _MM_HINT_T0);
        __m512i v0 = _mm512_loadu_si512((const void *)(p + i));
        uint64_t cand = candidates_vbmi(&t, v0, p + i), below = ~(uint64_t)0;
        size_t at = n;
        if (cand) {
            at = verify_mask64(s, p, n, i, cand);
            if (at < n) below = ((uint64_t)1 << (at - i)) - 1;
        }
        count += (size_t)__builtin_popcountll((uint64_t)_mm512_cmpeq_epi8_mask(v0, nl) & below);
        if (z == n) {
            uint64_t zm = (uint64_t)_mm512_cmpeq_epi8_mask(v0, zero) & below;
            if (zm) z = i + (size_t)__builtin_ctzll(zm);
        }
        if (at < n) { *lines += count; *nul = z; return at; }
        i += 64;
    }
    size_t at = find_teddy_avx2(s, p, n, i);
    for (; i < at; i++) { count += p[i] == '\n'; if (z == n && p[i] == 0) z = i; }
    *lines += count;
    *nul = z;
    return at;
}

__attribute__((target("avx2")))
static size_t count_avx2(const uint8_t *p, size_t n, uint8_t b) {
    const __m256i v = _mm256_set1_epi8((char)b);
    size_t i = 0, total = 0;
    for (; i + 128 <= n; i += 128) {
        uint64_t m0 = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(p + i)), v));
        uint64_t m1 = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(p + i + 32)), v));
        uint64_t m2 = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(p + i + 64)), v));
        uint64_t m3 = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(p + i + 96)), v));
        total += (size_t)__builtin_popcountll(m0 | m1 << 32) + (size_t)__builtin_popcountll(m2 | m3 << 32);
    }
    for (; i < n; i++) total += p[i] == b;
    return total;
}

/* The first byte b in p[i..n), or n: 32 bytes at a time while 32 remain (no call, no
   alignment prologue: the fields searched for are a few bytes to a line away). */
__attribute__((target("avx2"), always_inline))
static inline size_t next_avx2(const uint8_t *p, size_t i, size_t n, uint8_t b) {
    const __m256i v = _mm256_set1_epi8((char)b);
    for (; i + 32 <= n; i += 32) {
        uint32_t m = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(p + i)), v));
        if (m) return i + (size_t)__builtin_ctz(m);
    }
    for (; i < n; i++) if (p[i] == b) return i;
    return n;
}

/* Newlines: 64 bytes at a time (a line is a few blocks). */
__attribute__((target("avx2"), always_inline))
static inline size_t next_nl_avx2(const uint8_t *p, size_t i, size_t n) {
    const __m256i v = _mm256_set1_epi8('\n');
    for (; i + 64 <= n; i += 64) {
        _mm_prefetch((const char *)p + i + PREFETCH_AHEAD, _MM_HINT_T0);
        uint64_t lo = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(p + i)), v));
        uint64_t hi = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(p + i + 32)), v));
        uint64_t m = lo | hi << 32;
        if (m) return i + (size_t)__builtin_ctzll(m);
    }
    return next_avx2(p, i, n, '\n');
}
#endif

static inline size_t next_plain(const uint8_t *p, size_t i, size_t n, uint8_t b) {
    if (i >= n) return n;
    const uint8_t *r = memchr(p + i, b, n - i);
    return r ? (size_t)(r - p) : n;
}

/* One line p[0..n) (n without the newline and a CR) by AccessLine.parse's rules, each field
   found with NEXT(p, from, n, byte); the status, or -1. */
#define ACCESS_HEAD(NEXT, p, n, o) do {                                                        \
    size_t i_ = NEXT(p, 0, n, ' ');                                                          \
    (o)->status = -1;                                                                        \
    if (i_ == 0 || i_ >= n) break;                                                           \
    (o)->ip_end = (uint32_t)i_;                                                              \
    i_ = NEXT(p, i_, n, '[');                                                                \
    if (i_ >= n) break;                                                                      \
    (o)->time_start = (uint32_t)(i_ + 1);                                                    \
    size_t c_ = NEXT(p, i_ + 1, n, ']');                                                     \
    if (c_ >= n) break;                                                                      \
    (o)->time_end = (uint32_t)c_;                                                            \
    i_ = c_ + 1;                                                                             \
    if (i_ + 2 > n || p[i_] != ' ' || p[i_ + 1] != '"') break;                               \
    size_t j_ = i_ + 2, q_;                                                                  \
    for (;;) {                                                                               \
        q_ = NEXT(p, j_, n, '"');                                                            \
        if (q_ >= n || p[q_ - 1] != '\\') break;   /* q_ > request start: p[q_-1] is ours */ \
        j_ = q_ + 1;                                                                         \
    }                                                                                        \
    if (q_ >= n) break;                                                                      \
    (o)->req_end = (uint32_t)q_;                                                             \
    i_ = q_ + 1;                                                                             \
    if (i_ + 4 > n || p[i_] != ' ') break;                                                   \
    unsigned a_ = (unsigned)p[i_ + 1] - '0', b_ = (unsigned)p[i_ + 2] - '0', d_ = (unsigned)p[i_ + 3] - '0'; \
    if (a_ > 9 || b_ > 9 || d_ > 9) break;                                                   \
    if (i_ + 4 < n && p[i_ + 4] != ' ') break;                                               \
    (o)->status = (int32_t)(a_ * 100 + b_ * 10 + d_);                                        \
} while (0)

#define ACCESS_LINES(NEXT, NEXT_NL) do {                                                       \
    size_t k_ = 0, s_ = *at;                                                                 \
    while (k_ < max && s_ < n) {                                                             \
        size_t e_ = NEXT_NL(p, s_, n);                                                       \
        if (e_ >= n) break;   /* not a whole line: the region ends with a newline */         \
        opsh_access_line *o_ = out + k_++;                                                   \
        size_t len_ = e_ - s_;                                                               \
        if (len_ > 0 && p[e_ - 1] == '\r') len_--;                                          \
        o_->start = s_;                                                                      \
        if (len_ > 0xFFFFFFF0u) { o_->len = 0; o_->status = -2; }                            \
        else { o_->len = (uint32_t)len_; ACCESS_HEAD(NEXT, (p + s_), len_, o_); }            \
        s_ = e_ + 1;                                                                         \
    }                                                                                        \
    *at = s_;                                                                                \
    return k_;                                                                               \
} while (0)

static inline size_t next_nl_plain(const uint8_t *p, size_t i, size_t n) { return next_plain(p, i, n, '\n'); }

static size_t access_lines_plain(const uint8_t *p, size_t n, size_t *at, opsh_access_line *out, size_t max) {
    ACCESS_LINES(next_plain, next_nl_plain);
}

#if defined(__x86_64__)
__attribute__((target("avx2")))
static size_t access_lines_avx2(const uint8_t *p, size_t n, size_t *at, opsh_access_line *out, size_t max) {
    ACCESS_LINES(next_avx2, next_nl_avx2);
}

__attribute__((target("avx2")))
static size_t lines_nul_avx2(const uint8_t *p, size_t n, size_t *nul) {
    const __m256i nl = _mm256_set1_epi8('\n'), zero = _mm256_setzero_si256();
    size_t i = 0, total = 0, z = n;
    for (; i + 64 <= n; i += 64) {
        _mm_prefetch((const char *)p + i + PREFETCH_AHEAD, _MM_HINT_T0);
        __m256i a = _mm256_loadu_si256((const __m256i *)(p + i)), b = _mm256_loadu_si256((const __m256i *)(p + i + 32));
        uint64_t m = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(a, nl)) | (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(b, nl)) << 32;
        total += (size_t)__builtin_popcountll(m);
        if (z == n) {
            uint64_t q = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(a, zero)) | (uint64_t)(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(b, zero)) << 32;
            if (q) z = i + (size_t)__builtin_ctzll(q);
        }
    }
    for (; i < n; i++) { total += p[i] == '\n'; if (z == n && p[i] == 0) z = i; }
    *nul = z;
    return total;
}

static int forced_level = -1;

/* The same walk with AVX-512BW, without a loop per field: the first 128 bytes of a line are
   compared once with each delimiter (space, brackets, quote, backslash) into 128-bit masks, and
   each field is the lowest bit of its mask above the field before; newlines come from one
   mask per 64-byte block, kept while the lines end in it. The AVX2 walk's loops ended at a
   different iteration on every line (a mispredicted branch each, ~35 ns a line, §23). A line
   whose head is not in its first 128 bytes, and the lines of the region's last 128 bytes, take
   the AVX2 walk (the same rules). */
typedef unsigned __int128 u128;

static inline size_t ctz128(u128 x) {   /* x != 0 */
    uint64_t lo = (uint64_t)x;
    return lo ? (size_t)__builtin_ctzll(lo) : 64 + (size_t)__builtin_ctzll((uint64_t)(x >> 64));
}

/* The lowest set bit of m at or above `from`, or 128. */
static inline size_t first128(u128 m, size_t from) {
    if (from >= 128) return 128;
    m &= ~(u128)0 << from;
    return m ? ctz128(m) : 128;
}

__attribute__((target("avx512f,avx512bw")))
static inline u128 mask128(__m512i a, __m512i b, __m512i c) {
    return (u128)(uint64_t)_mm512_cmpeq_epi8_mask(a, c) | (u128)(uint64_t)_mm512_cmpeq_epi8_mask(b, c) << 64;
}

__attribute__((target("avx512f,avx512bw")))
static size_t access_lines_avx512(const uint8_t *p, size_t n, size_t *at, opsh_access_line *out, size_t max) {
    const __m512i NL = _mm512_set1_epi8('\n'), SP = _mm512_set1_epi8(' '), LB = _mm512_set1_epi8('['),
                  RB = _mm512_set1_epi8(']'), QT = _mm512_set1_epi8('"'), BS = _mm512_set1_epi8('\\');
    size_t k = 0, s = *at;
    size_t nb = (size_t)-1;   /* the block whose newline mask is in nm */
    uint64_t nm = 0;
    while (k < max && s + 128 <= n) {
        /* the line's end: the first newline at or after s */
        size_t b = s >> 6;
        if (b != nb) {
            nb = b;
            __m512i v = nb * 64 + 64 <= n ? _mm512_loadu_si512((const void *)(p + nb * 64))
                                          : _mm512_maskz_loadu_epi8((__mmask64)(~(uint64_t)0 >> (nb * 64 + 64 - n)), p + nb * 64);
            _mm_prefetch((const char *)p + nb * 64 + PREFETCH_AHEAD, _MM_HINT_T0);
            nm = (uint64_t)_mm512_cmpeq_epi8_mask(v, NL);
        }
        uint64_t m = nm & (~(uint64_t)0 << (s & 63));
        while (!m) {
            nb++;
            if (nb * 64 >= n) { nb = (size_t)-1; break; }
            __m512i v = nb * 64 + 64 <= n ? _mm512_loadu_si512((const void *)(p + nb * 64))
                                          : _mm512_maskz_loadu_epi8((__mmask64)(~(uint64_t)0 >> (nb * 64 + 64 - n)), p + nb * 64);
            _mm_prefetch((const char *)p + nb * 64 + PREFETCH_AHEAD, _MM_HINT_T0);
            nm = (uint64_t)_mm512_cmpeq_epi8_mask(v, NL);
            m = nm;
        }
        if (!m) break;   /* no newline: not a whole line (the region ends with one) */
        size_t e = nb * 64 + (size_t)__builtin_ctzll(m);
        opsh_access_line *o = out + k++;
        size_t len = e - s;
        if (len > 0 && p[e - 1] == '\r') len--;
        o->start = s;
        if (len > 0xFFFFFFF0u) { o->len = 0; o->status = -2; s = e + 1; continue; }
        o->len = (uint32_t)len;
        const uint8_t *l = p + s;
        __m512i v0 = _mm512_loadu_si512((const void *)l), v1 = _mm512_loadu_si512((const void *)(l + 64));
        size_t lim = len < 128 ? len : 128;
        o->status = -1;
        /* a field beyond the window in a longer line: that line by the AVX2 walk */
#define FIELD(var, mask, from) size_t var = first128(mask, from); \
        if (var >= lim) { if (len > 128) goto slow; goto done; }
        FIELD(sp, mask128(v0, v1, SP), 0)
        if (sp == 0) goto done;
        FIELD(lb, mask128(v0, v1, LB), sp)
        FIELD(rb, mask128(v0, v1, RB), lb + 1)
        if (rb + 3 > len || l[rb + 1] != ' ' || l[rb + 2] != '"') goto done;
        {
            u128 quotes = mask128(v0, v1, QT) & ~(mask128(v0, v1, BS) << 1);
            FIELD(q, quotes, rb + 3)
            size_t i = q + 1;
            if (i + 4 > len || l[i] != ' ') goto done;
            unsigned a = (unsigned)l[i + 1] - '0', bb = (unsigned)l[i + 2] - '0', d = (unsigned)l[i + 3] - '0';
            if (a > 9 || bb > 9 || d > 9) goto done;
            if (i + 4 < len && l[i + 4] != ' ') goto done;
            o->ip_end = (uint32_t)sp;
            o->time_start = (uint32_t)(lb + 1);
            o->time_end = (uint32_t)rb;
            o->req_end = (uint32_t)q;
            o->status = (int32_t)(a * 100 + bb * 10 + d);
        }
#undef FIELD
        goto done;
    slow:
        ACCESS_HEAD(next_avx2, l, len, o);
    done:
        s = e + 1;
    }
    *at = s;
    if (k < max && s < n && s + 128 > n) k += access_lines_avx2(p, n, at, out + k, max - k);
    return k;
}

static int simd_level(void) {
    static int level = -1;   /* every thread computes the same value: a relaxed store suffices */
    int l = __atomic_load_n(&level, __ATOMIC_RELAXED);
    if (l < 0) {
        __builtin_cpu_init();
        l = __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx2") ? 3 : __builtin_cpu_supports("avx2") ? 2 : 1;
        __atomic_store_n(&level, l, __ATOMIC_RELAXED);
    }
    int f = __atomic_load_n(&forced_level, __ATOMIC_RELAXED);
    return f >= 0 && f < l ? f : l;
}

/* Whether the literal search's AVX-512 form can run (VPERMI2B: Ice Lake, Zen 4 and later). */
static int has_vbmi(void) {
    static int vbmi = -1;
    int v = __atomic_load_n(&vbmi, __ATOMIC_RELAXED);
    if (v < 0) {
        __builtin_cpu_init();
        v = __builtin_cpu_supports("avx512vbmi") ? 1 : 0;
        __atomic_store_n(&vbmi, v, __ATOMIC_RELAXED);
    }
    return v;
}
#else
static int simd_level(void) { return 0; }
#endif

size_t opsh_lits_find(const opsh_lits *s, const uint8_t *p, size_t n, size_t from) {
    if (s->count == 0 || from >= n) return n;
#if defined(__x86_64__)
    int level = simd_level();
    return level == 3 && has_vbmi() ? find_teddy_vbmi(s, p, n, from) : level >= 2 ? find_teddy_avx2(s, p, n, from)
        : level == 1 ? find_sse2(s, p, n, from) : find_scalar(s, p, n, from);
#else
    return find_scalar(s, p, n, from);
#endif
}

size_t opsh_lits_find_lines(const opsh_lits *s, const uint8_t *p, size_t n, size_t from, size_t *lines, size_t *nul) {
    if (from >= n) return n;
#if defined(__x86_64__)
    if (s->count > 0 && simd_level() == 3 && has_vbmi()) return find_lines_vbmi(s, p, n, from, lines, nul);
#endif
    size_t at = opsh_lits_find(s, p, n, from);
    *lines += opsh_count_byte(p + from, at - from, '\n');
    if (*nul == n) {
        const uint8_t *z = memchr(p + from, 0, at - from);
        if (z) *nul = (size_t)(z - p);
    }
    return at;
}

size_t opsh_count_byte(const uint8_t *p, size_t n, uint8_t b) {
#if defined(__x86_64__)
    if (simd_level() >= 2) return count_avx2(p, n, b);
#endif
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += p[i] == b;
    return total;
}

size_t opsh_count_lines(const uint8_t *p, size_t n, size_t *nul) {
#if defined(__x86_64__)
    if (simd_level() >= 2) return lines_nul_avx2(p, n, nul);
#endif
    const uint8_t *z = n ? memchr(p, 0, n) : NULL;
    *nul = z ? (size_t)(z - p) : n;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += p[i] == '\n';
    return total;
}

size_t opsh_last_byte(const uint8_t *p, size_t n, uint8_t b) {
    const uint8_t *at = n ? memrchr(p, b, n) : NULL;
    return at ? (size_t)(at - p) : n;
}

/* The calling thread's mapped window, for the SIGBUS handler (which runs on the thread that
   faulted, so thread-locals are its own). */
static __thread const uint8_t *window_base;
static __thread size_t window_len;
static __thread volatile sig_atomic_t window_faulted;
static struct sigaction previous_bus;
static pthread_once_t bus_once = PTHREAD_ONCE_INIT;

static void on_bus(int sig, siginfo_t *info, void *context) {
    const uint8_t *a = (const uint8_t *)info->si_addr;
    if (window_base && a >= window_base && a < window_base + window_len) {
        /* the file shrank under the window: zero pages in place of the rest of it, so that the
           read that faulted and the ones after it see zeros; the scan is told afterwards */
        uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
        uint8_t *from = (uint8_t *)((uintptr_t)a & ~(page - 1));
        size_t rest = (size_t)(window_base + window_len - from);
        if (mmap(from, rest, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED) {
            window_faulted = 1;
            return;
        }
    }
    /* not ours: what would have happened without this handler */
    if (previous_bus.sa_flags & SA_SIGINFO) {
        if (previous_bus.sa_sigaction) { previous_bus.sa_sigaction(sig, info, context); return; }
    } else if (previous_bus.sa_handler != SIG_DFL && previous_bus.sa_handler != SIG_IGN) {
        previous_bus.sa_handler(sig);
        return;
    }
    signal(SIGBUS, SIG_DFL);   /* the fault repeats on return, now fatal as it would have been */
}

static void install_bus(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_bus;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &previous_bus);
}

const uint8_t *opsh_map(int fd, int64_t off, size_t len) {
    pthread_once(&bus_once, install_bus);
    void *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, (off_t)off);
    if (p == MAP_FAILED) return NULL;
    window_faulted = 0;
    window_len = len;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    window_base = (const uint8_t *)p;
    return (const uint8_t *)p;
}

void opsh_unmap(const uint8_t *p, size_t len) {
    window_base = NULL;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    window_len = 0;
    munmap((void *)p, len);
}

int opsh_map_faulted(void) { return window_faulted; }

size_t opsh_access_lines(const uint8_t *p, size_t n, size_t *at, opsh_access_line *out, size_t max) {
#if defined(__x86_64__)
    int level = simd_level();
    if (level == 3) return access_lines_avx512(p, n, at, out, max);
    if (level == 2) return access_lines_avx2(p, n, at, out, max);
#endif
    return access_lines_plain(p, n, at, out, max);
}

int opsh_logscan_simd(void) { return simd_level(); }

void opsh_logscan_force_simd(int level) {
#if defined(__x86_64__)
    __atomic_store_n(&forced_level, level, __ATOMIC_RELAXED);
#else
    (void)level;
#endif
}
