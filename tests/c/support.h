/*
 * support.h: the small toolkit the C harness needs and C does not ship with: a check/report
 * framework, a JSON reader, a string builder, a plain-HTTP/1.1 client for the stand-in's control
 * plane and for the loopback redirect, a child-process runner (curl), base64, and a MIME reader
 * to check what arrived in the stand-in's mailbox. Test code only; every wait is bounded.
 */
#ifndef OAUTHMAIL_TEST_SUPPORT_H
#define OAUTHMAIL_TEST_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

/* ---- checks ------------------------------------------------------------------------------ */
/* A test is a function; it passes when none of its CHECKs failed. CHECK keeps going so one run
 * shows every broken promise, with file:line and the values seen. */
extern int t_failures_in_test;
void t_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define CHECK(cond, ...)                                                                          \
    do {                                                                                          \
        if (!(cond)) t_fail(__FILE__, __LINE__, __VA_ARGS__);                                     \
    } while (0)
/* status + error-document shape: status name and code agree with the returned status,
 * message and hint non-empty. `field` (may be NULL) must equal the document's field. */
void t_check_status(const char *file, int line, uint32_t got, uint32_t want, const char *out_json,
                    const char *field);
#define CHECK_STATUS(got, want, out_json, field)                                                  \
    t_check_status(__FILE__, __LINE__, (got), (want), (out_json), (field))

typedef void (*test_fn)(void);
void t_run(const char *name, test_fn fn);
int t_summary(void); /* prints "N passed, N failed"; returns the process exit code */

/* ---- string builder ---------------------------------------------------------------------- */
typedef struct {
    char *p;
    size_t len, cap;
} sb;
void sb_add(sb *b, const char *s, size_t n);
void sb_puts(sb *b, const char *s);
void sb_printf(sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_json(sb *b, const char *s); /* a JSON string literal, quoted and escaped */
char *sb_take(sb *b);               /* the NUL-terminated text; the builder is emptied */

/* ---- JSON reader ------------------------------------------------------------------------- */
typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype;
typedef struct json {
    jtype type;
    int boolean;
    double num;
    char *str; /* J_STR: UTF-8, NUL-terminated */
    size_t n;  /* J_ARR / J_OBJ: item count */
    struct json **items;
    char **keys; /* J_OBJ */
} json;
json *json_parse(const char *text); /* NULL when the text is not one valid JSON document */
void json_free(json *j);
/* "error.status", "users[0]", "messages[2].envelope.to[0]"; NULL when absent */
const json *json_path(const json *root, const char *path);
const char *json_str(const json *root, const char *path); /* NULL unless a string */
double json_num(const json *root, const char *path, double dflt);
size_t json_len(const json *root, const char *path); /* array/object size, 0 otherwise */

/* ---- plain HTTP/1.1 client (loopback only: control plane, the library's redirect listener) - */
typedef struct {
    int status;
    char *headers; /* raw header block */
    char *body;    /* NUL-terminated (body may also contain NULs: use body_len) */
    size_t body_len;
} http_response;
/* 0 on a complete response; -1 on connect/IO failure or after `timeout_s`. */
int http_request(const char *method, const char *url, const char *body, int timeout_s, http_response *out);
void http_response_free(http_response *r);
/* control plane helpers: `path` is appended to the control URL; returns the parsed JSON or NULL
 * (and fails the current test) when the status is not 2xx. */
void control_set_base(const char *url);
json *control(const char *method, const char *path, const char *body);

/* ---- child processes --------------------------------------------------------------------- */
/* Runs argv (PATH searched) with stdout captured; kills it after timeout_s. Returns the exit
 * status (0..255) or -1. *out (may be NULL) receives stdout, NUL-terminated, caller frees. */
int run_capture(char *const argv[], char **out, int timeout_s);

/* ---- files, base64, MIME ----------------------------------------------------------------- */
char *read_file(const char *path, size_t *len); /* NULL on error; NUL-terminated */
int write_file(const char *path, const void *data, size_t len);
char *b64_encode(const unsigned char *data, size_t len);
unsigned char *b64_decode(const char *text, size_t *len); /* skips whitespace; NULL on bad input */

typedef struct {
    char *content_type; /* lowercase media type, e.g. "text/plain" */
    char *filename;     /* decoded UTF-8 (RFC 2231 / RFC 2047 / raw), or NULL */
    char *content_id;   /* without <>, or NULL */
    unsigned char *body; /* transfer-decoded bytes */
    size_t body_len;
} mime_part;
typedef struct {
    char *headers; /* unfolded top-level header block */
    mime_part parts[16];
    int nparts; /* leaf parts, depth first */
} mime_message;
int mime_parse(const char *msg, size_t len, mime_message *out); /* 0 on success */
void mime_free(mime_message *m);
/* A top-level header's value, unfolded, RFC 2047 decoded (caller frees); NULL when absent. */
char *mime_header_decoded(const mime_message *m, const char *name);
char *mime_header_raw(const char *headers, const char *name);
char *rfc2047_decode(const char *value);

#endif
