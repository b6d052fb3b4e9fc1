/*
 * CLogScan: the log scanner's byte loops that need vector instructions Swift's SIMD types cannot
 * name (a byte mask of a compare, AVX2 or AVX-512 chosen at run time), and the file's mapped
 * windows (a SIGBUS handler is C's to write). Plain C, no Lua, no allocation: the caller owns
 * every buffer. Used by Sources/LogScan only.
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
    /* the same tables by whole byte for AVX-512 VBMI (one 128-entry lookup per prefix byte:
       bit k of bytes[j][x & 0x7F] when literal k's byte j is x, both cases' when folded) */
    uint8_t bytes[3][128];
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

/* opsh_lits_find that also adds to *lines the newlines of p[from..result) and, when *nul is n
   (none seen yet), sets it to the first NUL byte there if there is one: the search and the
   line count in one pass (fused with AVX-512; two passes elsewhere). */
size_t opsh_lits_find_lines(const opsh_lits *s, const uint8_t *p, size_t n, size_t from, size_t *lines, size_t *nul);

/* The offset of the last byte b in p[0..n), or n when there is none (memrchr, which Swift's
   Glibc module does not declare). */
size_t opsh_last_byte(const uint8_t *p, size_t n, uint8_t b);

/* How many bytes of p[0..n) equal b (newlines, for line numbers). */
size_t opsh_count_byte(const uint8_t *p, size_t n, uint8_t b);

/* The newlines of p[0..n), and in *nul the offset of its first NUL byte (or n), in one pass
   that asks for the text a page ahead: the first look at mapped text, which waits for memory. */
size_t opsh_count_lines(const uint8_t *p, size_t n, size_t *nul);

/*
 * A window of a file mapped read-only and populated (its page-cache pages put in the page table
 * at once, not fault by fault), for the calling thread. `off` must be a multiple of the page
 * size. NULL when the file cannot be mapped (errno set): read it instead. One window per thread
 * at a time. Reading a mapped page of a file that has shrunk below it raises SIGBUS; while the
 * window is this thread's, that SIGBUS is caught (the handler is installed once, and passes
 * every other SIGBUS on to the handler it replaced): the missing pages read as zeros from then
 * on and opsh_map_faulted() is 1 until the next window.
 */
const uint8_t *opsh_map(int fd, int64_t off, size_t len);

/* Ends the calling thread's window (p and len as opsh_map's). */
void opsh_unmap(const uint8_t *p, size_t len);

/* 1 when a page of the calling thread's current window was missing (the file shrank). */
int opsh_map_faulted(void);

/*
 * One combined-format access line's head, found by opsh_access_lines; offsets from the line's
 * start. `status` is the three-digit status, -1 when the line is not a combined-format line (as
 * LogScan's AccessLine.parse decides: a client field, then `[time]`, ` "request"` whose closing
 * quote is the first one not after a backslash, ` ddd` and a space or the line's end), or -2
 * when a field lies beyond 4 GiB (the caller parses that line itself).
 */
typedef struct opsh_access_line {
    uint64_t start;       /* the line's offset in the region */
    uint32_t len;         /* without its newline and one CR before it */
    uint32_t ip_end;      /* the first space */
    uint32_t time_start;  /* after the '[' */
    uint32_t time_end;    /* the ']' */
    uint32_t req_end;     /* the request's closing quote; the request starts at time_end + 3 */
    int32_t status;
} opsh_access_line;

/*
 * Reads the lines of the region p[0..n) (whole lines: it ends with a newline) from offset *at,
 * at most `max` of them, into out; *at is moved past the last one read. Returns how many were
 * read (0 when *at >= n). Each field is found with a vector search of the bytes from the last
 * one (AVX2 when the processor has it, memchr otherwise), not one call per field per line.
 */
size_t opsh_access_lines(const uint8_t *p, size_t n, size_t *at, opsh_access_line *out, size_t max);

/* Which vector path runs here: 3 AVX-512BW (the access lines' heads; the literal search too
   when the processor has AVX-512 VBMI, else AVX2's), 2 AVX2, 1 SSE2, 0 none (for the benchmark
   notes). */
int opsh_logscan_simd(void);

/* Tests only: the vector path to take from now on (3 to 0, at most what the processor has),
   so that each path is held to the same reference; -1 for the processor's best again. */
void opsh_logscan_force_simd(int level);

#endif
