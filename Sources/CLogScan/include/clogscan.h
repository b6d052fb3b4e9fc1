/*
 * CLogScan: the log scanner's byte loops that need vector instructions Swift's SIMD types cannot
 * name (a byte mask of a compare, AVX2 chosen at run time). Plain C, no Lua, no allocation: the
 * caller owns every buffer. Used by Sources/LogScan only.
 */
#ifndef OPSH_CLOGSCAN_H
#define OPSH_CLOGSCAN_H

#include <stddef.h>
#include <stdint.h>

#define OPSH_LITS_MAX 8

/*
 * A set of at most OPSH_LITS_MAX literals searched in a whole buffer at once. Each literal has a
 * fingerprint: two of its bytes (the two rarest in log text, by a fixed ranking) at their
 * offsets; 32 (AVX2) or 16 (SSE2) positions are tested at a time with two compares per literal,
 * and only positions whose fingerprint matches are verified byte by byte (ASCII case folded when
 * `fold`, the literal neither preceded nor followed by a letter, digit or _ when `bounded`).
 */
typedef struct opsh_lits {
    int count;
    int fold;
    int bounded;
    int maxoff;
    uint8_t off1[OPSH_LITS_MAX], off2[OPSH_LITS_MAX];
    uint8_t b1[OPSH_LITS_MAX], b2[OPSH_LITS_MAX];
    /* 0x20 when the fingerprint byte is a letter of a folded set: OR-ed into the text first */
    uint8_t or1[OPSH_LITS_MAX], or2[OPSH_LITS_MAX];
    uint32_t len[OPSH_LITS_MAX];
    const uint8_t *lit[OPSH_LITS_MAX];   /* lower-cased when fold; owned by the caller */
    /* Teddy's tables (see clogscan.c): by prefix byte j, bit k of lo[j][x] / hi[j][x] when
       literal k's byte j has low / high nibble x; `width` prefix bytes (the shortest literal's
       length, at most 3) */
    uint8_t tlo[3][16], thi[3][16];
    int twidth;
} opsh_lits;

/* An empty set. */
void opsh_lits_init(opsh_lits *s, int fold, int bounded);

/* Adds a literal (lower-cased already when the set folds; its bytes must outlive the set);
   0 when the set is full. */
int opsh_lits_add(opsh_lits *s, const uint8_t *lit, uint32_t len);

/* The offset of the first literal found starting at or after `from` in p[0..n), or n. The byte
   before p (if any) is taken as a line boundary: p must start at a line's start. */
size_t opsh_lits_find(const opsh_lits *s, const uint8_t *p, size_t n, size_t from);

/* The offset of the last byte b in p[0..n), or n when there is none (memrchr, which Swift's
   Glibc module does not declare). */
size_t opsh_last_byte(const uint8_t *p, size_t n, uint8_t b);

/* How many bytes of p[0..n) equal b (newlines, for line numbers). */
size_t opsh_count_byte(const uint8_t *p, size_t n, uint8_t b);

/* Which vector path runs here: 2 AVX2, 1 SSE2, 0 none (for the benchmark notes). */
int opsh_logscan_simd(void);

#endif
