#define _GNU_SOURCE
#include "clogscan.h"

#include <string.h>
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

static int simd_level(void) {
    static int level = -1;   /* every thread computes the same value: a relaxed store suffices */
    int l = __atomic_load_n(&level, __ATOMIC_RELAXED);
    if (l < 0) {
        __builtin_cpu_init();
        l = __builtin_cpu_supports("avx2") ? 2 : 1;
        __atomic_store_n(&level, l, __ATOMIC_RELAXED);
    }
    return l;
}
#else
static int simd_level(void) { return 0; }
#endif

size_t opsh_lits_find(const opsh_lits *s, const uint8_t *p, size_t n, size_t from) {
    if (s->count == 0 || from >= n) return n;
#if defined(__x86_64__)
    return simd_level() == 2 ? find_teddy_avx2(s, p, n, from) : find_sse2(s, p, n, from);
#else
    return find_scalar(s, p, n, from);
#endif
}

size_t opsh_count_byte(const uint8_t *p, size_t n, uint8_t b) {
#if defined(__x86_64__)
    if (simd_level() == 2) return count_avx2(p, n, b);
#endif
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += p[i] == b;
    return total;
}

size_t opsh_last_byte(const uint8_t *p, size_t n, uint8_t b) {
    const uint8_t *at = n ? memrchr(p, b, n) : NULL;
    return at ? (size_t)(at - p) : n;
}

int opsh_logscan_simd(void) { return simd_level(); }
