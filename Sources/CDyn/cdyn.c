/*
 * CDyn: function tables for libraries opened with dlopen on first use. See include/cdyn.h.
 */
#define _GNU_SOURCE
#include "cdyn.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>

#define ERR_LEN 512

/* The error that the last failing call made on this thread points at (a per-library buffer
   written once under pthread_once, or this thread's own buffer for the test hooks). */
static _Thread_local const char *tls_last_error = "";
static _Thread_local char tls_hook_error[ERR_LEN];

const char *opsh_dyn_error(void) { return tls_last_error ? tls_last_error : ""; }

static void *open_lib(const char *soname, char *err, size_t errlen) {
    dlerror();
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(err, errlen, "cannot load %s: %s", soname, e ? e : "unknown dlopen error");
    }
    return h;
}

/* Resolves `name` into *slot (a function or data pointer). Returns 0 on failure. */
static int resolve(void *h, const char *soname, const char *name, void **slot, char *err, size_t errlen) {
    dlerror();
    void *p = dlsym(h, name);
    if (!p) {
        const char *e = dlerror();
        snprintf(err, errlen, "%s has no symbol %s: %s", soname, name, e ? e : "symbol is NULL");
        return 0;
    }
    *slot = p;
    return 1;
}

void *opsh_dyn_try_open(const char *soname) {
    void *h = open_lib(soname, tls_hook_error, sizeof tls_hook_error);
    tls_last_error = h ? "" : tls_hook_error;
    return h;
}

void *opsh_dyn_try_symbol(const char *soname, const char *symbol) {
    void *h = open_lib(soname, tls_hook_error, sizeof tls_hook_error);
    if (!h) { tls_last_error = tls_hook_error; return NULL; }
    void *p = NULL;
    if (!resolve(h, soname, symbol, &p, tls_hook_error, sizeof tls_hook_error)) {
        tls_last_error = tls_hook_error;
        return NULL;
    }
    tls_last_error = "";
    return p;
}

/* One library: its once-control, table, success flag and error text. */
#define DEFINE_LOADER(lib, SONAME, ...)                                           \
    static pthread_once_t lib##_once = PTHREAD_ONCE_INIT;                         \
    static struct opsh_##lib##_api lib##_table;                                   \
    static const struct opsh_##lib##_api *lib##_ok;                               \
    static char lib##_err[ERR_LEN];                                               \
    static void lib##_load(void) {                                                \
        const char *soname = SONAME;                                              \
        char *err = lib##_err;                                                    \
        struct opsh_##lib##_api *t = &lib##_table;                                \
        void *h = open_lib(soname, err, ERR_LEN);                                 \
        if (!h) return;                                                           \
        __VA_ARGS__                                                               \
        lib##_ok = t;                                                             \
    }                                                                             \
    const struct opsh_##lib##_api *opsh_##lib(void) {                             \
        pthread_once(&lib##_once, lib##_load);                                    \
        if (!lib##_ok) tls_last_error = lib##_err;                                \
        return lib##_ok;                                                          \
    }

/* Required symbol into field `f`. */
#define SYM(f, name) if (!resolve(h, soname, name, (void **)&t->f, err, ERR_LEN)) return;
/* Optional symbol: stays NULL when absent. */
#define OPT(f, name) do { dlerror(); *(void **)&t->f = dlsym(h, name); } while (0);

/* ---------------------------------------------------------------- libcurl */

DEFINE_LOADER(curl, "libcurl.so.4",
    SYM(global_init, "curl_global_init")
    SYM(easy_init, "curl_easy_init")
    SYM(easy_cleanup, "curl_easy_cleanup")
    SYM(easy_perform, "curl_easy_perform")
    SYM(easy_strerror, "curl_easy_strerror")
    SYM(easy_pause, "curl_easy_pause")
    SYM(easy_reset, "curl_easy_reset")
    SYM(easy_setopt, "curl_easy_setopt")
    SYM(easy_getinfo, "curl_easy_getinfo")
    SYM(multi_init, "curl_multi_init")
    SYM(multi_cleanup, "curl_multi_cleanup")
    SYM(multi_add_handle, "curl_multi_add_handle")
    SYM(multi_remove_handle, "curl_multi_remove_handle")
    SYM(multi_socket_action, "curl_multi_socket_action")
    SYM(multi_info_read, "curl_multi_info_read")
    SYM(multi_strerror, "curl_multi_strerror")
    SYM(multi_assign, "curl_multi_assign")
    SYM(multi_setopt, "curl_multi_setopt")
    SYM(slist_append, "curl_slist_append")
    SYM(slist_free_all, "curl_slist_free_all")
    SYM(version_info, "curl_version_info")
    {
        CURLcode rc = t->global_init(CURL_GLOBAL_DEFAULT);
        if (rc != CURLE_OK) {
            snprintf(err, ERR_LEN, "curl_global_init failed: %s", t->easy_strerror(rc));
            return;
        }
    }
)

CURLcode opsh_curl_setopt_long(CURL *h, CURLoption opt, long v) {
    const struct opsh_curl_api *c = opsh_curl();
    return c ? c->easy_setopt(h, opt, v) : CURLE_FAILED_INIT;
}
CURLcode opsh_curl_setopt_ptr(CURL *h, CURLoption opt, const void *v) {
    const struct opsh_curl_api *c = opsh_curl();
    return c ? c->easy_setopt(h, opt, v) : CURLE_FAILED_INIT;
}
CURLcode opsh_curl_setopt_off_t(CURL *h, CURLoption opt, curl_off_t v) {
    const struct opsh_curl_api *c = opsh_curl();
    return c ? c->easy_setopt(h, opt, v) : CURLE_FAILED_INIT;
}
CURLcode opsh_curl_setopt_func(CURL *h, CURLoption opt, opsh_fnptr fn) {
    const struct opsh_curl_api *c = opsh_curl();
    return c ? c->easy_setopt(h, opt, fn) : CURLE_FAILED_INIT;
}
CURLcode opsh_curl_setopt_write_cb(CURL *h, CURLoption opt, opsh_curl_write_cb fn) {
    const struct opsh_curl_api *c = opsh_curl();
    return c ? c->easy_setopt(h, opt, fn) : CURLE_FAILED_INIT;
}
CURLcode opsh_curl_setopt_read_cb(CURL *h, CURLoption opt, opsh_curl_read_cb fn) {
    const struct opsh_curl_api *c = opsh_curl();
    return c ? c->easy_setopt(h, opt, fn) : CURLE_FAILED_INIT;
}
CURLcode opsh_curl_setopt_xferinfo_cb(CURL *h, opsh_curl_xferinfo_cb fn) {
    const struct opsh_curl_api *c = opsh_curl();
    return c ? c->easy_setopt(h, CURLOPT_XFERINFOFUNCTION, fn) : CURLE_FAILED_INIT;
}

CURLcode opsh_curl_getinfo_long(CURL *h, CURLINFO info, long *out) {
    const struct opsh_curl_api *c = opsh_curl();
    return c ? c->easy_getinfo(h, info, out) : CURLE_FAILED_INIT;
}
CURLcode opsh_curl_getinfo_double(CURL *h, CURLINFO info, double *out) {
    const struct opsh_curl_api *c = opsh_curl();
    return c ? c->easy_getinfo(h, info, out) : CURLE_FAILED_INIT;
}
CURLcode opsh_curl_getinfo_off_t(CURL *h, CURLINFO info, curl_off_t *out) {
    const struct opsh_curl_api *c = opsh_curl();
    return c ? c->easy_getinfo(h, info, out) : CURLE_FAILED_INIT;
}
CURLcode opsh_curl_getinfo_string(CURL *h, CURLINFO info, const char **out) {
    const struct opsh_curl_api *c = opsh_curl();
    if (!c) return CURLE_FAILED_INIT;
    char *s = NULL;
    CURLcode rc = c->easy_getinfo(h, info, &s);
    *out = s;
    return rc;
}

CURLMcode opsh_curl_multi_setopt_long(CURLM *m, CURLMoption opt, long v) {
    const struct opsh_curl_api *c = opsh_curl();
    return c ? c->multi_setopt(m, opt, v) : CURLM_INTERNAL_ERROR;
}
CURLMcode opsh_curl_multi_setopt_ptr(CURLM *m, CURLMoption opt, void *v) {
    const struct opsh_curl_api *c = opsh_curl();
    return c ? c->multi_setopt(m, opt, v) : CURLM_INTERNAL_ERROR;
}
CURLMcode opsh_curl_multi_setopt_func(CURLM *m, CURLMoption opt, opsh_fnptr fn) {
    const struct opsh_curl_api *c = opsh_curl();
    return c ? c->multi_setopt(m, opt, fn) : CURLM_INTERNAL_ERROR;
}
CURLMcode opsh_curl_multi_set_socket_cb(CURLM *m, opsh_curl_socket_cb fn, void *userp) {
    const struct opsh_curl_api *c = opsh_curl();
    if (!c) return CURLM_INTERNAL_ERROR;
    CURLMcode rc = c->multi_setopt(m, CURLMOPT_SOCKETFUNCTION, fn);
    if (rc != CURLM_OK) return rc;
    return c->multi_setopt(m, CURLMOPT_SOCKETDATA, userp);
}
CURLMcode opsh_curl_multi_set_timer_cb(CURLM *m, opsh_curl_timer_cb fn, void *userp) {
    const struct opsh_curl_api *c = opsh_curl();
    if (!c) return CURLM_INTERNAL_ERROR;
    CURLMcode rc = c->multi_setopt(m, CURLMOPT_TIMERFUNCTION, fn);
    if (rc != CURLM_OK) return rc;
    return c->multi_setopt(m, CURLMOPT_TIMERDATA, userp);
}

CURLcode opsh_curl_msg_result(const CURLMsg *msg) { return msg->data.result; }

/* ---------------------------------------------------------------- libcrypto */

DEFINE_LOADER(crypto, "libcrypto.so.3",
    SYM(EVP_MD_CTX_new, "EVP_MD_CTX_new")
    SYM(EVP_MD_CTX_free, "EVP_MD_CTX_free")
    SYM(EVP_sha256, "EVP_sha256")
    SYM(EVP_DigestInit_ex, "EVP_DigestInit_ex")
    SYM(EVP_DigestUpdate, "EVP_DigestUpdate")
    SYM(EVP_DigestFinal_ex, "EVP_DigestFinal_ex")
    SYM(RAND_bytes, "RAND_bytes")
    SYM(ERR_get_error, "ERR_get_error")
    SYM(ERR_error_string_n, "ERR_error_string_n")
)

size_t opsh_crypto_error_text(char *buf, size_t len) {
    const struct opsh_crypto_api *c = opsh_crypto();
    size_t used = 0;
    if (len == 0) return 0;
    buf[0] = 0;
    if (!c) return 0;
    for (unsigned long code; (code = c->ERR_get_error()) != 0;) {
        char one[256];
        c->ERR_error_string_n(code, one, sizeof one);
        int n = snprintf(buf + used, len - used, "%s%s", used ? "; " : "", one);
        if (n < 0) break;
        used = (size_t)n >= len - used ? len - 1 : used + (size_t)n;
    }
    return used;
}

/* ---------------------------------------------------------------- libssl */

DEFINE_LOADER(ssl, "libssl.so.3",
    SYM(OPENSSL_init_ssl, "OPENSSL_init_ssl")
    SYM(TLS_client_method, "TLS_client_method")
    SYM(SSL_CTX_new, "SSL_CTX_new")
    SYM(SSL_CTX_free, "SSL_CTX_free")
    SYM(SSL_CTX_set_default_verify_paths, "SSL_CTX_set_default_verify_paths")
    SYM(SSL_CTX_load_verify_locations, "SSL_CTX_load_verify_locations")
    SYM(SSL_CTX_use_certificate_chain_file, "SSL_CTX_use_certificate_chain_file")
    SYM(SSL_CTX_use_PrivateKey_file, "SSL_CTX_use_PrivateKey_file")
    SYM(SSL_CTX_set_verify, "SSL_CTX_set_verify")
    SYM(SSL_new, "SSL_new")
    SYM(SSL_free, "SSL_free")
    SYM(SSL_set_fd, "SSL_set_fd")
    SYM(SSL_connect, "SSL_connect")
    SYM(SSL_read, "SSL_read")
    SYM(SSL_write, "SSL_write")
    SYM(SSL_get_error, "SSL_get_error")
    SYM(SSL_shutdown, "SSL_shutdown")
    SYM(SSL_get_verify_result, "SSL_get_verify_result")
    SYM(SSL_ctrl, "SSL_ctrl")
    SYM(SSL_set1_host, "SSL_set1_host")
    SYM(SSL_get_peer_cert_chain, "SSL_get_peer_cert_chain")
    SYM(SSL_get_version, "SSL_get_version")
    SYM(SSL_get_current_cipher, "SSL_get_current_cipher")
    SYM(SSL_CIPHER_get_name, "SSL_CIPHER_get_name")
    if (t->OPENSSL_init_ssl(0, NULL) != 1) {
        snprintf(err, ERR_LEN, "OPENSSL_init_ssl failed");
        return;
    }
)

int opsh_ssl_set_hostname(SSL *ssl, const char *name) {
    const struct opsh_ssl_api *s = opsh_ssl();
    if (!s) return 0;
    return (int)s->SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, (void *)name);
}

/* ---------------------------------------------------------------- X.509 (libcrypto) */

DEFINE_LOADER(x509, "libcrypto.so.3",
    SYM(BIO_new_mem_buf, "BIO_new_mem_buf")
    SYM(BIO_new, "BIO_new")
    SYM(BIO_s_mem, "BIO_s_mem")
    SYM(BIO_free, "BIO_free")
    SYM(BIO_ctrl, "BIO_ctrl")
    SYM(PEM_read_bio_X509, "PEM_read_bio_X509")
    SYM(d2i_X509, "d2i_X509")
    SYM(X509_free, "X509_free")
    SYM(X509_up_ref, "X509_up_ref")
    SYM(X509_get_subject_name, "X509_get_subject_name")
    SYM(X509_get_issuer_name, "X509_get_issuer_name")
    SYM(X509_NAME_print_ex, "X509_NAME_print_ex")
    SYM(X509_NAME_get_text_by_NID, "X509_NAME_get_text_by_NID")
    SYM(X509_get_ext_d2i, "X509_get_ext_d2i")
    SYM(GENERAL_NAMES_free, "GENERAL_NAMES_free")
    SYM(OPENSSL_sk_num, "OPENSSL_sk_num")
    SYM(OPENSSL_sk_value, "OPENSSL_sk_value")
    SYM(OPENSSL_sk_new_null, "OPENSSL_sk_new_null")
    SYM(OPENSSL_sk_push, "OPENSSL_sk_push")
    SYM(OPENSSL_sk_free, "OPENSSL_sk_free")
    SYM(ASN1_STRING_get0_data, "ASN1_STRING_get0_data")
    SYM(ASN1_STRING_length, "ASN1_STRING_length")
    SYM(X509_get_serialNumber, "X509_get_serialNumber")
    SYM(X509_get0_notBefore, "X509_get0_notBefore")
    SYM(X509_get0_notAfter, "X509_get0_notAfter")
    SYM(ASN1_TIME_to_tm, "ASN1_TIME_to_tm")
    SYM(X509_get_signature_nid, "X509_get_signature_nid")
    SYM(OBJ_nid2ln, "OBJ_nid2ln")
    SYM(X509_get0_pubkey, "X509_get0_pubkey")
    SYM(EVP_PKEY_get_bits, "EVP_PKEY_get_bits")
    SYM(EVP_PKEY_get0_type_name, "EVP_PKEY_get0_type_name")
    SYM(EVP_sha256, "EVP_sha256")
    SYM(X509_digest, "X509_digest")
    SYM(X509_check_host, "X509_check_host")
    SYM(X509_check_ip_asc, "X509_check_ip_asc")
    SYM(X509_check_issued, "X509_check_issued")
    SYM(X509_check_ca, "X509_check_ca")
    SYM(X509_STORE_new, "X509_STORE_new")
    SYM(X509_STORE_free, "X509_STORE_free")
    SYM(X509_STORE_set_default_paths, "X509_STORE_set_default_paths")
    SYM(X509_STORE_load_file, "X509_STORE_load_file")
    SYM(X509_STORE_CTX_new, "X509_STORE_CTX_new")
    SYM(X509_STORE_CTX_free, "X509_STORE_CTX_free")
    SYM(X509_STORE_CTX_init, "X509_STORE_CTX_init")
    SYM(X509_verify_cert, "X509_verify_cert")
    SYM(X509_STORE_CTX_get_error, "X509_STORE_CTX_get_error")
    SYM(X509_verify_cert_error_string, "X509_verify_cert_error_string")
    SYM(ERR_clear_error, "ERR_clear_error")
)

int opsh_x509_general_name(const GENERAL_NAMES *names, int i, int *type, const unsigned char **data, int *len) {
    const struct opsh_x509_api *x = opsh_x509();
    if (!x || i < 0 || i >= x->OPENSSL_sk_num((const OPENSSL_STACK *)names)) return 0;
    const GENERAL_NAME *gn = x->OPENSSL_sk_value((const OPENSSL_STACK *)names, i);
    *type = gn->type;
    /* every GENERAL_NAME member that carries bytes is an ASN1_STRING (ia5, ip, ...) */
    const ASN1_STRING *s = (gn->type == GEN_DNS || gn->type == GEN_EMAIL || gn->type == GEN_URI) ? gn->d.ia5
                         : gn->type == GEN_IPADD ? gn->d.ip : NULL;
    *data = s ? x->ASN1_STRING_get0_data(s) : NULL;
    *len = s ? x->ASN1_STRING_length(s) : 0;
    return 1;
}

unsigned long opsh_x509_name_flags(void) {
    return (ASN1_STRFLGS_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) | XN_FLAG_SEP_CPLUS_SPC | XN_FLAG_FN_SN;
}

/* ---------------------------------------------------------------- libedit */

DEFINE_LOADER(edit, "libedit.so.2",
    SYM(readline, "readline")
    SYM(add_history, "add_history")
    SYM(read_history, "read_history")
    SYM(write_history, "write_history")
    SYM(stifle_history, "stifle_history")
    OPT(history_truncate_file, "history_truncate_file")
    SYM(rl_completion_matches, "rl_completion_matches")
    SYM(rl_attempted_completion_function, "rl_attempted_completion_function")
    SYM(rl_readline_name, "rl_readline_name")
    SYM(rl_completer_word_break_characters, "rl_completer_word_break_characters")
    SYM(rl_completion_append_character, "rl_completion_append_character")
)

void opsh_edit_set_attempted_completion(rl_completion_func_t *fn) {
    const struct opsh_edit_api *e = opsh_edit();
    if (e) *e->rl_attempted_completion_function = fn;
}
void opsh_edit_set_readline_name(const char *name) {
    const struct opsh_edit_api *e = opsh_edit();
    if (e) *e->rl_readline_name = name;
}
void opsh_edit_set_word_break_characters(const char *chars) {
    const struct opsh_edit_api *e = opsh_edit();
    if (e) *e->rl_completer_word_break_characters = (char *)chars;
}
void opsh_edit_set_completion_append_character(int c) {
    const struct opsh_edit_api *e = opsh_edit();
    if (e) *e->rl_completion_append_character = c;
}

/* ---------------------------------------------------------------- libzstd */

DEFINE_LOADER(zstd, "libzstd.so.1",
    SYM(ZSTD_createCCtx, "ZSTD_createCCtx")
    SYM(ZSTD_freeCCtx, "ZSTD_freeCCtx")
    SYM(ZSTD_CCtx_setParameter, "ZSTD_CCtx_setParameter")
    SYM(ZSTD_compressStream2, "ZSTD_compressStream2")
    SYM(ZSTD_CStreamInSize, "ZSTD_CStreamInSize")
    SYM(ZSTD_CStreamOutSize, "ZSTD_CStreamOutSize")
    SYM(ZSTD_createDCtx, "ZSTD_createDCtx")
    SYM(ZSTD_freeDCtx, "ZSTD_freeDCtx")
    SYM(ZSTD_decompressStream, "ZSTD_decompressStream")
    SYM(ZSTD_DStreamInSize, "ZSTD_DStreamInSize")
    SYM(ZSTD_DStreamOutSize, "ZSTD_DStreamOutSize")
    SYM(ZSTD_isError, "ZSTD_isError")
    SYM(ZSTD_getErrorName, "ZSTD_getErrorName")
    SYM(ZSTD_compressBound, "ZSTD_compressBound")
)

/* ---------------------------------------------------------------- zlib */

DEFINE_LOADER(zlib, "libz.so.1",
    SYM(zlibVersion, "zlibVersion")
    SYM(deflateInit2_, "deflateInit2_")
    SYM(deflate, "deflate")
    SYM(deflateEnd, "deflateEnd")
    SYM(deflateReset, "deflateReset")
    SYM(deflateSetDictionary, "deflateSetDictionary")
    SYM(deflateBound, "deflateBound")
    SYM(inflateInit2_, "inflateInit2_")
    SYM(inflate, "inflate")
    SYM(inflateEnd, "inflateEnd")
    SYM(inflateReset, "inflateReset")
    SYM(crc32, "crc32")
    SYM(crc32_combine, "crc32_combine")
)

int opsh_zlib_deflate_init(z_streamp s, int level, int windowBits) {
    const struct opsh_zlib_api *z = opsh_zlib();
    if (!z) return Z_VERSION_ERROR;
    return z->deflateInit2_(s, level, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, (int)sizeof(z_stream));
}

int opsh_zlib_inflate_init(z_streamp s, int windowBits) {
    const struct opsh_zlib_api *z = opsh_zlib();
    if (!z) return Z_VERSION_ERROR;
    return z->inflateInit2_(s, windowBits, ZLIB_VERSION, (int)sizeof(z_stream));
}

/* ---------------------------------------------------------------- libyaml */

DEFINE_LOADER(yaml, "libyaml-0.so.2",
    SYM(yaml_parser_initialize, "yaml_parser_initialize")
    SYM(yaml_parser_delete, "yaml_parser_delete")
    SYM(yaml_parser_set_input_string, "yaml_parser_set_input_string")
    SYM(yaml_parser_parse, "yaml_parser_parse")
    SYM(yaml_event_delete, "yaml_event_delete")
)

int opsh_yaml_check(const char *data, size_t len, size_t *documents, size_t *line, size_t *column, char *msg, size_t msglen) {
    const struct opsh_yaml_api *y = opsh_yaml();
    if (!y) return -1;
    yaml_parser_t p;
    if (!y->yaml_parser_initialize(&p)) { snprintf(msg, msglen, "cannot initialise libyaml"); return 0; }
    y->yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
    *documents = 0; *line = 0; *column = 0; msg[0] = 0;
    int ok = 1;
    for (;;) {
        yaml_event_t ev;
        if (!y->yaml_parser_parse(&p, &ev)) {
            ok = 0;
            *line = p.problem_mark.line + 1;
            *column = p.problem_mark.column + 1;
            if (p.context)
                snprintf(msg, msglen, "%s %s (line %zu)", p.problem ? p.problem : "syntax error", p.context,
                         (size_t)p.context_mark.line + 1);
            else
                snprintf(msg, msglen, "%s", p.problem ? p.problem : "syntax error");
            break;
        }
        int type = ev.type;
        if (type == YAML_DOCUMENT_START_EVENT) (*documents)++;
        y->yaml_event_delete(&ev);
        if (type == YAML_STREAM_END_EVENT) break;
    }
    y->yaml_parser_delete(&p);
    return ok;
}

/* ---------------------------------------------------------------- libsqlite3 */

DEFINE_LOADER(sqlite, "libsqlite3.so.0",
    SYM(sqlite3_libversion, "sqlite3_libversion")
    SYM(sqlite3_open_v2, "sqlite3_open_v2")
    SYM(sqlite3_close_v2, "sqlite3_close_v2")
    SYM(sqlite3_errmsg, "sqlite3_errmsg")
    SYM(sqlite3_errstr, "sqlite3_errstr")
    SYM(sqlite3_extended_errcode, "sqlite3_extended_errcode")
    SYM(sqlite3_busy_timeout, "sqlite3_busy_timeout")
    SYM(sqlite3_extended_result_codes, "sqlite3_extended_result_codes")
    SYM(sqlite3_exec, "sqlite3_exec")
    SYM(sqlite3_free, "sqlite3_free")
    SYM(sqlite3_prepare_v2, "sqlite3_prepare_v2")
    SYM(sqlite3_finalize, "sqlite3_finalize")
    SYM(sqlite3_reset, "sqlite3_reset")
    SYM(sqlite3_clear_bindings, "sqlite3_clear_bindings")
    SYM(sqlite3_bind_parameter_count, "sqlite3_bind_parameter_count")
    SYM(sqlite3_bind_null, "sqlite3_bind_null")
    SYM(sqlite3_bind_int64, "sqlite3_bind_int64")
    SYM(sqlite3_bind_double, "sqlite3_bind_double")
    SYM(sqlite3_bind_text, "sqlite3_bind_text")
    SYM(sqlite3_bind_blob, "sqlite3_bind_blob")
    SYM(sqlite3_step, "sqlite3_step")
    SYM(sqlite3_column_count, "sqlite3_column_count")
    SYM(sqlite3_column_name, "sqlite3_column_name")
    SYM(sqlite3_column_type, "sqlite3_column_type")
    SYM(sqlite3_column_int64, "sqlite3_column_int64")
    SYM(sqlite3_column_double, "sqlite3_column_double")
    SYM(sqlite3_column_text, "sqlite3_column_text")
    SYM(sqlite3_column_blob, "sqlite3_column_blob")
    SYM(sqlite3_column_bytes, "sqlite3_column_bytes")
    SYM(sqlite3_changes, "sqlite3_changes")
    SYM(sqlite3_last_insert_rowid, "sqlite3_last_insert_rowid")
    SYM(sqlite3_get_autocommit, "sqlite3_get_autocommit")
)

int opsh_sqlite_bind_text_copy(sqlite3_stmt *stmt, int index, const char *text, int bytes) {
    const struct opsh_sqlite_api *s = opsh_sqlite();
    if (!s) return SQLITE_MISUSE;
    return s->sqlite3_bind_text(stmt, index, text, bytes, SQLITE_TRANSIENT);
}

int opsh_sqlite_bind_blob_copy(sqlite3_stmt *stmt, int index, const void *data, int bytes) {
    const struct opsh_sqlite_api *s = opsh_sqlite();
    if (!s) return SQLITE_MISUSE;
    /* a NULL pointer would bind NULL, not an empty blob */
    static const char empty[1] = {0};
    return s->sqlite3_bind_blob(stmt, index, data ? data : empty, bytes, SQLITE_TRANSIENT);
}
