/*
 * CDyn: libcurl, libcrypto, libssl, libedit, libzstd, zlib, libyaml and libsqlite3 opened with dlopen on first use
 * (docs/ARCHITECTURE.md §2 "Start-up": the opsh binary links only libc, libm, liblua and the C++ runtime).
 *
 * The dev headers are included for their types only; nothing here links against them.
 * Each opsh_<lib>() opens its library by soname once (pthread_once, thread-safe), resolves
 * every required symbol into a table of function pointers and returns it; it returns NULL
 * when the library or a required symbol is missing, and opsh_dyn_error() then says which
 * library/symbol and what dlerror() said. Tables live for the whole process (never dlclosed).
 */
#ifndef OPSH_CDYN_H
#define OPSH_CDYN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* CURL and CURLM become distinct incomplete struct types (OpaquePointer in Swift),
   instead of plain void. */
#ifndef CURL_STRICTER
#define CURL_STRICTER
#endif
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <zstd.h>
#include <zlib.h>
#include <yaml.h>
#include <sqlite3.h>
#include <editline/readline.h>

#include "cdyn_sys.h"

#ifdef __cplusplus
extern "C" {
#endif

#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wnullability-completeness"

/* A required function pointer: never NULL in a table that was returned. */
#define OPSH_FN(ret, name, args) ret (* _Nonnull name) args
/* An optional function pointer: NULL when the library does not export it. */
#define OPSH_OPT_FN(ret, name, args) ret (* _Nullable name) args

/* ------------------------------------------------------------------ errors and test hooks */

/* The last load failure seen by this thread ("" if none): library or symbol, and dlerror(). */
const char * _Nonnull opsh_dyn_error(void);

/* Test hook: dlopen(soname) without caching. Returns the handle (never closed) or NULL and
   sets opsh_dyn_error() the same way the loaders do. */
void * _Nullable opsh_dyn_try_open(const char * _Nonnull soname);

/* Test hook: resolve `symbol` in the library `soname`; NULL + opsh_dyn_error() on failure. */
void * _Nullable opsh_dyn_try_symbol(const char * _Nonnull soname, const char * _Nonnull symbol);

/* ------------------------------------------------------------------ libcurl (libcurl.so.4) */

/* Callback types Swift needs (the same shapes as curl's own typedefs). */
typedef int (*opsh_curl_socket_cb)(CURL * _Nullable easy, curl_socket_t s, int what,
                                   void * _Nullable userp, void * _Nullable socketp);
typedef int (*opsh_curl_timer_cb)(CURLM * _Nullable multi, long timeout_ms, void * _Nullable userp);
typedef size_t (*opsh_curl_write_cb)(char * _Nullable ptr, size_t size, size_t nmemb, void * _Nullable userdata);
typedef size_t (*opsh_curl_read_cb)(char * _Nullable buffer, size_t size, size_t nitems, void * _Nullable userdata);
typedef int (*opsh_curl_xferinfo_cb)(void * _Nullable clientp, curl_off_t dltotal, curl_off_t dlnow,
                                     curl_off_t ultotal, curl_off_t ulnow);
/* Any function pointer, for the generic _func setters. */
typedef void (*opsh_fnptr)(void);

struct opsh_curl_api {
    OPSH_FN(CURLcode, global_init, (long flags));
    OPSH_FN(CURL *, easy_init, (void));
    OPSH_FN(void, easy_cleanup, (CURL *));
    OPSH_FN(CURLcode, easy_perform, (CURL *));
    OPSH_FN(const char *, easy_strerror, (CURLcode));
    OPSH_FN(CURLcode, easy_pause, (CURL *, int bitmask));
    OPSH_FN(void, easy_reset, (CURL *));
    OPSH_FN(CURLcode, easy_setopt, (CURL *, CURLoption, ...));   /* variadic: use the wrappers */
    OPSH_FN(CURLcode, easy_getinfo, (CURL *, CURLINFO, ...));    /* variadic: use the wrappers */
    OPSH_FN(CURLM *, multi_init, (void));
    OPSH_FN(CURLMcode, multi_cleanup, (CURLM *));
    OPSH_FN(CURLMcode, multi_add_handle, (CURLM *, CURL *));
    OPSH_FN(CURLMcode, multi_remove_handle, (CURLM *, CURL *));
    OPSH_FN(CURLMcode, multi_socket_action, (CURLM *, curl_socket_t, int ev_bitmask, int *running));
    OPSH_FN(CURLMsg *, multi_info_read, (CURLM *, int *msgs_in_queue));
    OPSH_FN(const char *, multi_strerror, (CURLMcode));
    OPSH_FN(CURLMcode, multi_assign, (CURLM *, curl_socket_t, void *sockp));
    OPSH_FN(CURLMcode, multi_setopt, (CURLM *, CURLMoption, ...)); /* variadic: use the wrappers */
    OPSH_FN(struct curl_slist *, slist_append, (struct curl_slist *, const char *));
    OPSH_FN(void, slist_free_all, (struct curl_slist *));
    OPSH_FN(curl_version_info_data *, version_info, (CURLversion));
};

/* CURLVERSION_NOW is a macro alias Swift cannot import. */
static const CURLversion OPSH_CURLVERSION_NOW = CURLVERSION_NOW;

/* Loads libcurl.so.4 (and calls curl_global_init(CURL_GLOBAL_DEFAULT) once). */
const struct opsh_curl_api * _Nullable opsh_curl(void);

/* Non-variadic wrappers (Swift cannot call C variadics). They return CURLE_FAILED_INIT /
   CURLM_INTERNAL_ERROR when libcurl cannot be loaded. */
CURLcode opsh_curl_setopt_long(CURL * _Nonnull h, CURLoption opt, long v);
CURLcode opsh_curl_setopt_ptr(CURL * _Nonnull h, CURLoption opt, const void * _Nullable v);
CURLcode opsh_curl_setopt_off_t(CURL * _Nonnull h, CURLoption opt, curl_off_t v);
CURLcode opsh_curl_setopt_func(CURL * _Nonnull h, CURLoption opt, opsh_fnptr _Nullable fn);
CURLcode opsh_curl_setopt_write_cb(CURL * _Nonnull h, CURLoption opt, opsh_curl_write_cb _Nullable fn);
CURLcode opsh_curl_setopt_read_cb(CURL * _Nonnull h, CURLoption opt, opsh_curl_read_cb _Nullable fn);
CURLcode opsh_curl_setopt_xferinfo_cb(CURL * _Nonnull h, opsh_curl_xferinfo_cb _Nullable fn);

CURLcode opsh_curl_getinfo_long(CURL * _Nonnull h, CURLINFO info, long * _Nonnull out);
CURLcode opsh_curl_getinfo_double(CURL * _Nonnull h, CURLINFO info, double * _Nonnull out);
CURLcode opsh_curl_getinfo_off_t(CURL * _Nonnull h, CURLINFO info, curl_off_t * _Nonnull out);
/* The string belongs to the handle (do not free); *out may be NULL. */
CURLcode opsh_curl_getinfo_string(CURL * _Nonnull h, CURLINFO info, const char * _Nullable * _Nonnull out);

CURLMcode opsh_curl_multi_setopt_long(CURLM * _Nonnull m, CURLMoption opt, long v);
CURLMcode opsh_curl_multi_setopt_ptr(CURLM * _Nonnull m, CURLMoption opt, void * _Nullable v);
CURLMcode opsh_curl_multi_setopt_func(CURLM * _Nonnull m, CURLMoption opt, opsh_fnptr _Nullable fn);
CURLMcode opsh_curl_multi_set_socket_cb(CURLM * _Nonnull m, opsh_curl_socket_cb _Nullable fn, void * _Nullable userp);
CURLMcode opsh_curl_multi_set_timer_cb(CURLM * _Nonnull m, opsh_curl_timer_cb _Nullable fn, void * _Nullable userp);

/* The CURLcode of a CURLMSG_DONE message (a union member, awkward from Swift). */
CURLcode opsh_curl_msg_result(const CURLMsg * _Nonnull msg);

/* ------------------------------------------------------------------ libcrypto (libcrypto.so.3) */

struct opsh_crypto_api {
    OPSH_FN(EVP_MD_CTX *, EVP_MD_CTX_new, (void));
    OPSH_FN(void, EVP_MD_CTX_free, (EVP_MD_CTX *));
    OPSH_FN(const EVP_MD *, EVP_sha256, (void));
    OPSH_FN(int, EVP_DigestInit_ex, (EVP_MD_CTX *, const EVP_MD *, ENGINE *));
    OPSH_FN(int, EVP_DigestUpdate, (EVP_MD_CTX *, const void *, size_t));
    OPSH_FN(int, EVP_DigestFinal_ex, (EVP_MD_CTX *, unsigned char *, unsigned int *));
    OPSH_FN(int, RAND_bytes, (unsigned char *, int));
    OPSH_FN(unsigned long, ERR_get_error, (void));
    OPSH_FN(void, ERR_error_string_n, (unsigned long, char *, size_t));
};
const struct opsh_crypto_api * _Nullable opsh_crypto(void);
/* OpenSSL's queued errors as one text ("...; ..."), written into buf (always terminated) and
   removed from the queue. Returns the text's length (0: no error, or libcrypto unavailable). */
size_t opsh_crypto_error_text(char * _Nonnull buf, size_t len);

/* ------------------------------------------------------------------ libssl (libssl.so.3) */

struct opsh_ssl_api {
    OPSH_FN(int, OPENSSL_init_ssl, (uint64_t opts, const OPENSSL_INIT_SETTINGS *settings));
    OPSH_FN(const SSL_METHOD *, TLS_client_method, (void));
    OPSH_FN(SSL_CTX *, SSL_CTX_new, (const SSL_METHOD *));
    OPSH_FN(void, SSL_CTX_free, (SSL_CTX *));
    OPSH_FN(int, SSL_CTX_set_default_verify_paths, (SSL_CTX *));
    OPSH_FN(int, SSL_CTX_load_verify_locations, (SSL_CTX *, const char *CAfile, const char *CApath));
    OPSH_FN(int, SSL_CTX_use_certificate_chain_file, (SSL_CTX *, const char *file));
    OPSH_FN(int, SSL_CTX_use_PrivateKey_file, (SSL_CTX *, const char *file, int type));
    OPSH_FN(void, SSL_CTX_set_verify, (SSL_CTX *, int mode, SSL_verify_cb callback));
    OPSH_FN(SSL *, SSL_new, (SSL_CTX *));
    OPSH_FN(void, SSL_free, (SSL *));
    OPSH_FN(int, SSL_set_fd, (SSL *, int fd));
    OPSH_FN(int, SSL_connect, (SSL *));
    OPSH_FN(int, SSL_read, (SSL *, void *buf, int num));
    OPSH_FN(int, SSL_write, (SSL *, const void *buf, int num));
    OPSH_FN(int, SSL_get_error, (const SSL *, int ret));
    OPSH_FN(int, SSL_shutdown, (SSL *));
    OPSH_FN(long, SSL_get_verify_result, (const SSL *));
    OPSH_FN(long, SSL_ctrl, (SSL *, int cmd, long larg, void *parg));
    OPSH_FN(int, SSL_set1_host, (SSL *, const char *hostname));
    /* Certificate inspection (Sources/TLS): the peer's chain and what was negotiated. */
    OPSH_FN(STACK_OF(X509) *, SSL_get_peer_cert_chain, (const SSL *));
    OPSH_FN(const char *, SSL_get_version, (const SSL *));
    OPSH_FN(const SSL_CIPHER *, SSL_get_current_cipher, (const SSL *));
    OPSH_FN(const char *, SSL_CIPHER_get_name, (const SSL_CIPHER *));
};
/* Loads libssl.so.3 (which brings libcrypto) and calls OPENSSL_init_ssl(0, NULL) once. */
const struct opsh_ssl_api * _Nullable opsh_ssl(void);
/* SNI: SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, name).
   Returns 1 on success, 0 on failure (or when libssl is unavailable). */
int opsh_ssl_set_hostname(SSL * _Nonnull ssl, const char * _Nonnull name);

/* ------------------------------------------------------------------ X.509 (libcrypto.so.3) */

/* Certificates read, described and verified (Sources/TLS): the same libcrypto as opsh_crypto(),
   in a table of its own so that hashing never resolves what only certificate checks need. */
struct opsh_x509_api {
    OPSH_FN(BIO *, BIO_new_mem_buf, (const void *buf, int len));
    OPSH_FN(BIO *, BIO_new, (const BIO_METHOD *));
    OPSH_FN(const BIO_METHOD *, BIO_s_mem, (void));
    OPSH_FN(int, BIO_free, (BIO *));
    OPSH_FN(long, BIO_ctrl, (BIO *, int cmd, long larg, void *parg));
    OPSH_FN(X509 *, PEM_read_bio_X509, (BIO *, X509 **, pem_password_cb *, void *));
    OPSH_FN(X509 *, d2i_X509, (X509 **, const unsigned char **, long));
    OPSH_FN(void, X509_free, (X509 *));
    OPSH_FN(int, X509_up_ref, (X509 *));
    OPSH_FN(X509_NAME *, X509_get_subject_name, (const X509 *));
    OPSH_FN(X509_NAME *, X509_get_issuer_name, (const X509 *));
    OPSH_FN(int, X509_NAME_print_ex, (BIO *, const X509_NAME *, int indent, unsigned long flags));
    OPSH_FN(int, X509_NAME_get_text_by_NID, (X509_NAME *, int nid, char *buf, int len));
    OPSH_FN(void *, X509_get_ext_d2i, (const X509 *, int nid, int *crit, int *idx));
    OPSH_FN(void, GENERAL_NAMES_free, (GENERAL_NAMES *));
    OPSH_FN(int, OPENSSL_sk_num, (const OPENSSL_STACK *));
    OPSH_FN(void *, OPENSSL_sk_value, (const OPENSSL_STACK *, int));
    OPSH_FN(OPENSSL_STACK *, OPENSSL_sk_new_null, (void));
    OPSH_FN(int, OPENSSL_sk_push, (OPENSSL_STACK *, const void *));
    OPSH_FN(void, OPENSSL_sk_free, (OPENSSL_STACK *));
    OPSH_FN(const unsigned char *, ASN1_STRING_get0_data, (const ASN1_STRING *));
    OPSH_FN(int, ASN1_STRING_length, (const ASN1_STRING *));
    OPSH_FN(ASN1_INTEGER *, X509_get_serialNumber, (X509 *));
    OPSH_FN(const ASN1_TIME *, X509_get0_notBefore, (const X509 *));
    OPSH_FN(const ASN1_TIME *, X509_get0_notAfter, (const X509 *));
    OPSH_FN(int, ASN1_TIME_to_tm, (const ASN1_TIME *, struct tm *));
    OPSH_FN(int, X509_get_signature_nid, (const X509 *));
    OPSH_FN(const char *, OBJ_nid2ln, (int nid));
    OPSH_FN(EVP_PKEY *, X509_get0_pubkey, (const X509 *));
    OPSH_FN(int, EVP_PKEY_get_bits, (const EVP_PKEY *));
    OPSH_FN(const char *, EVP_PKEY_get0_type_name, (const EVP_PKEY *));
    OPSH_FN(const EVP_MD *, EVP_sha256, (void));
    OPSH_FN(int, X509_digest, (const X509 *, const EVP_MD *, unsigned char *, unsigned int *));
    OPSH_FN(int, X509_check_host, (X509 *, const char *name, size_t namelen, unsigned int flags, char **peername));
    OPSH_FN(int, X509_check_ip_asc, (X509 *, const char *address, unsigned int flags));
    OPSH_FN(int, X509_check_issued, (X509 *issuer, X509 *subject));
    OPSH_FN(int, X509_check_ca, (X509 *));
    OPSH_FN(X509_STORE *, X509_STORE_new, (void));
    OPSH_FN(void, X509_STORE_free, (X509_STORE *));
    OPSH_FN(int, X509_STORE_set_default_paths, (X509_STORE *));
    OPSH_FN(int, X509_STORE_load_file, (X509_STORE *, const char *file));
    OPSH_FN(X509_STORE_CTX *, X509_STORE_CTX_new, (void));
    OPSH_FN(void, X509_STORE_CTX_free, (X509_STORE_CTX *));
    OPSH_FN(int, X509_STORE_CTX_init, (X509_STORE_CTX *, X509_STORE *, X509 *, STACK_OF(X509) *));
    OPSH_FN(int, X509_verify_cert, (X509_STORE_CTX *));
    OPSH_FN(int, X509_STORE_CTX_get_error, (const X509_STORE_CTX *));
    OPSH_FN(const char *, X509_verify_cert_error_string, (long));
    OPSH_FN(void, ERR_clear_error, (void));
};
const struct opsh_x509_api * _Nullable opsh_x509(void);

/* One subjectAltName entry of the GENERAL_NAMES that X509_get_ext_d2i returned: its GEN_* type
   (GEN_DNS 2, GEN_IPADD 7, ...) and its bytes (an IA5 name, or 4/16 address bytes). Returns 0
   when i is out of range or libcrypto is unavailable. */
int opsh_x509_general_name(const GENERAL_NAMES * _Nonnull names, int i, int * _Nonnull type,
                           const unsigned char * _Nullable * _Nonnull data, int * _Nonnull len);

/* X509_NAME_print_ex flags for one readable line: "CN=a, O=b", RFC 2253 escaping, UTF-8 kept
   (the XN_FLAG_* macros are expressions Swift does not import). */
unsigned long opsh_x509_name_flags(void);

/* ------------------------------------------------------------------ libedit (libedit.so.2) */

struct opsh_edit_api {
    OPSH_FN(char *, readline, (const char *prompt));
    OPSH_FN(int, add_history, (const char *line));
    OPSH_FN(int, read_history, (const char *file));
    OPSH_FN(int, write_history, (const char *file));
    OPSH_FN(void, stifle_history, (int max));
    OPSH_OPT_FN(int, history_truncate_file, (const char *file, int lines)); /* optional */
    OPSH_FN(char **, rl_completion_matches, (const char *text, rl_compentry_func_t *entry));
    /* Addresses of libedit's readline-compatible variables. */
    rl_completion_func_t * _Nullable * _Nonnull rl_attempted_completion_function;
    const char * _Nullable * _Nonnull rl_readline_name;
    char * _Nullable * _Nonnull rl_completer_word_break_characters;
    int * _Nonnull rl_completion_append_character;
};
const struct opsh_edit_api * _Nullable opsh_edit(void);
/* Setters for the variables above (no-ops when libedit is unavailable). The strings are
   not copied: pass strings that live for the whole process (or strdup them). */
void opsh_edit_set_attempted_completion(rl_completion_func_t * _Nullable fn);
void opsh_edit_set_readline_name(const char * _Nullable name);
void opsh_edit_set_word_break_characters(const char * _Nullable chars);
void opsh_edit_set_completion_append_character(int c);

/* ------------------------------------------------------------------ libzstd (libzstd.so.1) */

struct opsh_zstd_api {
    OPSH_FN(ZSTD_CCtx *, ZSTD_createCCtx, (void));
    OPSH_FN(size_t, ZSTD_freeCCtx, (ZSTD_CCtx *));
    OPSH_FN(size_t, ZSTD_CCtx_setParameter, (ZSTD_CCtx *, ZSTD_cParameter, int));
    OPSH_FN(size_t, ZSTD_compressStream2, (ZSTD_CCtx *, ZSTD_outBuffer *, ZSTD_inBuffer *, ZSTD_EndDirective));
    OPSH_FN(size_t, ZSTD_CStreamInSize, (void));
    OPSH_FN(size_t, ZSTD_CStreamOutSize, (void));
    OPSH_FN(ZSTD_DCtx *, ZSTD_createDCtx, (void));
    OPSH_FN(size_t, ZSTD_freeDCtx, (ZSTD_DCtx *));
    OPSH_FN(size_t, ZSTD_decompressStream, (ZSTD_DCtx *, ZSTD_outBuffer *, ZSTD_inBuffer *));
    OPSH_FN(size_t, ZSTD_DStreamInSize, (void));
    OPSH_FN(size_t, ZSTD_DStreamOutSize, (void));
    OPSH_FN(unsigned, ZSTD_isError, (size_t));
    OPSH_FN(const char *, ZSTD_getErrorName, (size_t));
    OPSH_FN(size_t, ZSTD_compressBound, (size_t));
};
const struct opsh_zstd_api * _Nullable opsh_zstd(void);

/* ------------------------------------------------------------------ libsqlite3 (libsqlite3.so.0) */

/* The embedded database of opsh's history and the agent's runs (Sources/Store). */
struct opsh_sqlite_api {
    OPSH_FN(const char *, sqlite3_libversion, (void));
    OPSH_FN(int, sqlite3_open_v2, (const char *, sqlite3 **, int, const char *));
    OPSH_FN(int, sqlite3_close_v2, (sqlite3 *));
    OPSH_FN(const char *, sqlite3_errmsg, (sqlite3 *));
    OPSH_FN(const char *, sqlite3_errstr, (int));
    OPSH_FN(int, sqlite3_extended_errcode, (sqlite3 *));
    OPSH_FN(int, sqlite3_busy_timeout, (sqlite3 *, int));
    OPSH_FN(int, sqlite3_extended_result_codes, (sqlite3 *, int));
    OPSH_FN(int, sqlite3_exec, (sqlite3 *, const char *, int (*)(void *, int, char **, char **), void *, char **));
    OPSH_FN(void, sqlite3_free, (void *));
    OPSH_FN(int, sqlite3_prepare_v2, (sqlite3 *, const char *, int, sqlite3_stmt **, const char **));
    OPSH_FN(int, sqlite3_finalize, (sqlite3_stmt *));
    OPSH_FN(int, sqlite3_reset, (sqlite3_stmt *));
    OPSH_FN(int, sqlite3_clear_bindings, (sqlite3_stmt *));
    OPSH_FN(int, sqlite3_bind_parameter_count, (sqlite3_stmt *));
    OPSH_FN(int, sqlite3_bind_null, (sqlite3_stmt *, int));
    OPSH_FN(int, sqlite3_bind_int64, (sqlite3_stmt *, int, sqlite3_int64));
    OPSH_FN(int, sqlite3_bind_double, (sqlite3_stmt *, int, double));
    OPSH_FN(int, sqlite3_bind_text, (sqlite3_stmt *, int, const char *, int, void (*)(void *)));
    OPSH_FN(int, sqlite3_bind_blob, (sqlite3_stmt *, int, const void *, int, void (*)(void *)));
    OPSH_FN(int, sqlite3_step, (sqlite3_stmt *));
    OPSH_FN(int, sqlite3_column_count, (sqlite3_stmt *));
    OPSH_FN(const char *, sqlite3_column_name, (sqlite3_stmt *, int));
    OPSH_FN(int, sqlite3_column_type, (sqlite3_stmt *, int));
    OPSH_FN(sqlite3_int64, sqlite3_column_int64, (sqlite3_stmt *, int));
    OPSH_FN(double, sqlite3_column_double, (sqlite3_stmt *, int));
    OPSH_FN(const unsigned char *, sqlite3_column_text, (sqlite3_stmt *, int));
    OPSH_FN(const void *, sqlite3_column_blob, (sqlite3_stmt *, int));
    OPSH_FN(int, sqlite3_column_bytes, (sqlite3_stmt *, int));
    OPSH_FN(int, sqlite3_changes, (sqlite3 *));
    OPSH_FN(sqlite3_int64, sqlite3_last_insert_rowid, (sqlite3 *));
    OPSH_FN(int, sqlite3_get_autocommit, (sqlite3 *));
};
const struct opsh_sqlite_api * _Nullable opsh_sqlite(void);
/* Bind text or a blob that SQLite copies (SQLITE_TRANSIENT, a macro Swift cannot import). */
int opsh_sqlite_bind_text_copy(sqlite3_stmt * _Nonnull stmt, int index, const char * _Nonnull text, int bytes);
int opsh_sqlite_bind_blob_copy(sqlite3_stmt * _Nonnull stmt, int index, const void * _Nullable data, int bytes);

/* ------------------------------------------------------------------ zlib (libz.so.1) */

/* gzip for the archive engine (Sources/Archive): raw deflate blocks compressed in parallel
   (as pigz does) and stitched with crc32_combine; inflate for reading .tar.gz. */
struct opsh_zlib_api {
    OPSH_FN(const char *, zlibVersion, (void));
    OPSH_FN(int, deflateInit2_, (z_streamp, int level, int method, int windowBits, int memLevel,
                                 int strategy, const char *version, int stream_size));
    OPSH_FN(int, deflate, (z_streamp, int flush));
    OPSH_FN(int, deflateEnd, (z_streamp));
    OPSH_FN(int, deflateReset, (z_streamp));
    OPSH_FN(int, deflateSetDictionary, (z_streamp, const Bytef *, uInt));
    OPSH_FN(uLong, deflateBound, (z_streamp, uLong));
    OPSH_FN(int, inflateInit2_, (z_streamp, int windowBits, const char *version, int stream_size));
    OPSH_FN(int, inflate, (z_streamp, int flush));
    OPSH_FN(int, inflateEnd, (z_streamp));
    OPSH_FN(int, inflateReset, (z_streamp));
    OPSH_FN(uLong, crc32, (uLong, const Bytef *, uInt));
    OPSH_FN(uLong, crc32_combine, (uLong, uLong, z_off_t));
};
const struct opsh_zlib_api * _Nullable opsh_zlib(void);
/* deflateInit2/inflateInit2 are macros over the _ functions (version and struct size). */
int opsh_zlib_deflate_init(z_streamp _Nonnull s, int level, int windowBits);
int opsh_zlib_inflate_init(z_streamp _Nonnull s, int windowBits);

/* ------------------------------------------------------------------ libyaml (libyaml-0.so.2) */

/* YAML syntax checks for configuration validation (config/validate). */
struct opsh_yaml_api {
    OPSH_FN(int, yaml_parser_initialize, (yaml_parser_t *));
    OPSH_FN(void, yaml_parser_delete, (yaml_parser_t *));
    OPSH_FN(void, yaml_parser_set_input_string, (yaml_parser_t *, const unsigned char *, size_t));
    OPSH_FN(int, yaml_parser_parse, (yaml_parser_t *, yaml_event_t *));
    OPSH_FN(void, yaml_event_delete, (yaml_event_t *));
};
const struct opsh_yaml_api * _Nullable opsh_yaml(void);
/* Parses every document of `data` (events only, nothing built). Returns 1 when the text is valid
   YAML (*documents = how many), 0 on a syntax error (1-based *line and *column, the problem and
   its context in msg), -1 when libyaml cannot be loaded (opsh_dyn_error() says why). */
int opsh_yaml_check(const char * _Nonnull data, size_t len, size_t * _Nonnull documents,
                    size_t * _Nonnull line, size_t * _Nonnull column, char * _Nonnull msg, size_t msglen);

#pragma clang diagnostic pop

#ifdef __cplusplus
}
#endif
#endif /* OPSH_CDYN_H */
