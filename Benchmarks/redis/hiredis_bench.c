/* hiredis_bench: the peer of Benchmarks/RESPBench (resp-bench), same modes, same output.
 * Debian's libhiredis-dev 0.14 (RESP2 only). Built by Benchmarks/redis/run.sh:
 *   gcc -O2 -o hiredis_bench hiredis_bench.c -lhiredis
 *
 *   hiredis_bench MODE [--host H] [--port P] [--n N] [--reps R]
 *
 * MODE: get | set (sequential round trips, us/req), pipe16 | pipe1000 (pipelined GET, req/s),
 * parse-array (one array of 1,000,000 short bulks) | parse-bulk (ten 10 MiB bulks), parsed
 * from memory in 64 KB feeds by redisReader, MB/s (10^6 bytes).
 * One untimed warm-up, then R timed repetitions, each printed as "MODE VALUE UNIT".
 * Commands go through redisCommandArgv / redisAppendCommandArgv (no format parsing).
 * The reader keeps its buffer between feeds (maxbuf = 0), hiredis's fastest setting. */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *mode;
static const char *host = "127.0.0.1";
static int port = 6379;
static long n = 0;
static int reps = 3;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void fail(const char *msg) {
    fprintf(stderr, "hiredis_bench: %s\n", msg);
    exit(2);
}

static const char *KEY = "resp-bench:k";
static const char *VALUE = "xxx";

static redisContext *connect_server(void) {
    redisContext *c = redisConnect(host, port);
    if (c == NULL || c->err) fail(c ? c->errstr : "cannot allocate context");
    const char *argv[3] = {"SET", KEY, VALUE};
    redisReply *r = redisCommandArgv(c, 3, argv, NULL);
    if (r == NULL || r->type != REDIS_REPLY_STATUS || strcmp(r->str, "OK") != 0) fail("SET failed");
    freeReplyObject(r);
    return c;
}

/* Sequential round trips: microseconds per request. */
static double sequential(redisContext *c, int argc, const char **argv, int expect_type, long count) {
    double t0 = now();
    for (long i = 0; i < count; i++) {
        redisReply *r = redisCommandArgv(c, argc, argv, NULL);
        if (r == NULL) fail(c->errstr);
        if (r->type != expect_type) fail("unexpected reply");
        freeReplyObject(r);
    }
    return (now() - t0) / count * 1e6;
}

/* Pipelined GET at `depth`: requests per second. */
static double pipelined(redisContext *c, int depth, long count) {
    const char *argv[2] = {"GET", KEY};
    long total = 0;
    double t0 = now();
    while (total < count) {
        for (int i = 0; i < depth; i++) redisAppendCommandArgv(c, 2, argv, NULL);
        for (int i = 0; i < depth; i++) {
            void *v;
            if (redisGetReply(c, &v) != REDIS_OK) fail(c->errstr);
            redisReply *r = v;
            if (i == depth - 1 && (r->type != REDIS_REPLY_STRING || r->len != 3)) fail("unexpected reply");
            freeReplyObject(r);
        }
        total += depth;
    }
    return total / (now() - t0);
}

/* Parses data in 64 KB feeds: MB/s. Every reply is built and freed. */
static double parse(const char *data, size_t len, int expect) {
    redisReader *rd = redisReaderCreate();
    rd->maxbuf = 0;
    int replies = 0;
    double t0 = now();
    size_t off = 0;
    while (off < len) {
        size_t k = len - off < 65536 ? len - off : 65536;
        if (redisReaderFeed(rd, data + off, k) != REDIS_OK) fail("feed failed");
        off += k;
        void *rep;
        for (;;) {
            if (redisReaderGetReply(rd, &rep) != REDIS_OK) fail(rd->errstr);
            if (rep == NULL) break;
            replies++;
            freeReplyObject(rep);
        }
    }
    double dt = now() - t0;
    redisReaderFree(rd);
    if (replies != expect) fail("wrong reply count");
    return len / dt / 1e6;
}

static char *array_reply(size_t *len) {
    char *a = malloc(32 << 20);
    size_t l = sprintf(a, "*1000000\r\n");
    for (int i = 0; i < 1000000; i++) {
        char s[32];
        int k = sprintf(s, "value:%d", i);
        l += sprintf(a + l, "$%d\r\n%s\r\n", k, s);
    }
    *len = l;
    return a;
}

static char *bulk_replies(size_t *len) {
    size_t size = 10 << 20;
    char *b = malloc(10 * (size + 16));
    size_t l = 0;
    for (int i = 0; i < 10; i++) {
        l += sprintf(b + l, "$%zu\r\n", size);
        memset(b + l, 'a', size);
        l += size;
        b[l++] = '\r';
        b[l++] = '\n';
    }
    *len = l;
    return b;
}

#define REPORT(expr, unit)                                          \
    do {                                                            \
        (void)(expr);                                               \
        for (int r_ = 0; r_ < reps; r_++) printf("%s %f %s\n", mode, (expr), unit); \
    } while (0)

int main(int argc, char **argv) {
    if (argc < 2) fail("usage: hiredis_bench get|set|pipe16|pipe1000|parse-array|parse-bulk [--host H] [--port P] [--n N] [--reps R]");
    mode = argv[1];
    for (int i = 2; i < argc; i += 2) {
        if (i + 1 >= argc) fail("option needs a value");
        if (!strcmp(argv[i], "--host")) host = argv[i + 1];
        else if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--n")) n = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else fail("unknown option");
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(mode, "get") || !strcmp(mode, "set")) {
        redisContext *c = connect_server();
        long count = n ? n : 20000;
        if (mode[0] == 'g') {
            const char *a[2] = {"GET", KEY};
            REPORT(sequential(c, 2, a, REDIS_REPLY_STRING, count), "us/req");
        } else {
            const char *a[3] = {"SET", KEY, VALUE};
            REPORT(sequential(c, 3, a, REDIS_REPLY_STATUS, count), "us/req");
        }
        redisFree(c);
    } else if (!strcmp(mode, "pipe16")) {
        redisContext *c = connect_server();
        REPORT(pipelined(c, 16, n ? n : 200000), "req/s");
        redisFree(c);
    } else if (!strcmp(mode, "pipe1000")) {
        redisContext *c = connect_server();
        REPORT(pipelined(c, 1000, n ? n : 500000), "req/s");
        redisFree(c);
    } else if (!strcmp(mode, "parse-array")) {
        size_t len;
        char *d = array_reply(&len);
        REPORT(parse(d, len, 1), "MB/s");
        free(d);
    } else if (!strcmp(mode, "parse-bulk")) {
        size_t len;
        char *d = bulk_replies(&len);
        REPORT(parse(d, len, 10), "MB/s");
        free(d);
    } else {
        fail("unknown mode");
    }
    return 0;
}
