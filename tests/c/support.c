/* support.c: see support.h. Plain C11 + POSIX; test code only. */
#define _GNU_SOURCE
#include "support.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "oauthmail.h"

extern char **environ;

/* ================================ checks ================================================= */
int t_failures_in_test;
static int t_passed, t_failed;

void t_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    t_failures_in_test++;
    fprintf(stdout, "    %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

void t_check_status(const char *file, int line, uint32_t got, uint32_t want, const char *out_json,
                    const char *field) {
    if (got != want) {
        t_fail(file, line, "status %u (%s), want %u (%s); document: %s", got, oauthmail_status_name(got),
               want, oauthmail_status_name(want), out_json ? out_json : "(none)");
        return;
    }
    if (want == OAUTHMAIL_OK || out_json == NULL) return;
    json *doc = json_parse(out_json);
    if (!doc) {
        t_fail(file, line, "error document is not JSON: %s", out_json);
        return;
    }
    const char *status = json_str(doc, "error.status");
    const char *message = json_str(doc, "error.message");
    const char *hint = json_str(doc, "error.hint");
    double code = json_num(doc, "error.code", -1);
    if (!status || strcmp(status, oauthmail_status_name(want)) != 0)
        t_fail(file, line, "error.status is %s, want %s", status ? status : "(absent)", oauthmail_status_name(want));
    if (code != (double)want) t_fail(file, line, "error.code is %g, want %u", code, want);
    if (!message || !*message) t_fail(file, line, "error.message is empty or absent: %s", out_json);
    if (!hint || !*hint) t_fail(file, line, "error.hint is empty or absent: %s", out_json);
    const char *hint_id = json_str(doc, "error.hint_id");
    if (!hint_id || !*hint_id) t_fail(file, line, "error.hint_id is empty or absent: %s", out_json);
    if (field) {
        const char *f = json_str(doc, "error.field");
        if (!f || strcmp(f, field) != 0)
            t_fail(file, line, "error.field is %s, want %s (%s)", f ? f : "(absent)", field, out_json);
    }
    json_free(doc);
}

void t_run(const char *name, test_fn fn) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    t_failures_in_test = 0;
    fprintf(stdout, "--- %s\n", name);
    fflush(stdout);
    fn();
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    if (t_failures_in_test == 0) {
        t_passed++;
        fprintf(stdout, "ok   %s (%.0f ms)\n", name, ms);
    } else {
        t_failed++;
        fprintf(stdout, "FAIL %s (%d failed checks, %.0f ms)\n", name, t_failures_in_test, ms);
    }
    fflush(stdout);
}

int t_summary(void) {
    fprintf(stdout, "%d passed, %d failed\n", t_passed, t_failed);
    fflush(stdout);
    return t_failed == 0 && t_passed > 0 ? 0 : 1;
}

/* ================================ string builder ======================================== */
void sb_add(sb *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) abort();
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void sb_puts(sb *b, const char *s) { sb_add(b, s, strlen(s)); }

void sb_printf(sb *b, const char *fmt, ...) {
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) abort();
    char *tmp = malloc((size_t)n + 1);
    if (!tmp) abort();
    vsnprintf(tmp, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    sb_add(b, tmp, (size_t)n);
    free(tmp);
}

void sb_json(sb *b, const char *s) {
    sb_add(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': sb_puts(b, "\\\""); break;
        case '\\': sb_puts(b, "\\\\"); break;
        case '\n': sb_puts(b, "\\n"); break;
        case '\r': sb_puts(b, "\\r"); break;
        case '\t': sb_puts(b, "\\t"); break;
        default:
            if (*p < 0x20) sb_printf(b, "\\u%04x", *p);
            else sb_add(b, (const char *)p, 1);
        }
    }
    sb_add(b, "\"", 1);
}

char *sb_take(sb *b) {
    char *p = b->p ? b->p : strdup("");
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

/* ================================ JSON reader ============================================ */
typedef struct {
    const char *s;
    int depth;
} jp;

static void jws(jp *p) {
    while (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r') p->s++;
}

static json *jnew(jtype t) {
    json *j = calloc(1, sizeof *j);
    if (!j) abort();
    j->type = t;
    return j;
}

static int hex4(const char *s, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

static void utf8_put(sb *b, unsigned cp) {
    char buf[4];
    size_t n;
    if (cp < 0x80) { buf[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { buf[0] = (char)(0xC0 | (cp >> 6)); buf[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
    else if (cp < 0x10000) {
        buf[0] = (char)(0xE0 | (cp >> 12)); buf[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        buf[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
    } else {
        buf[0] = (char)(0xF0 | (cp >> 18)); buf[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        buf[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); buf[3] = (char)(0x80 | (cp & 0x3F)); n = 4;
    }
    sb_add(b, buf, n);
}

static char *jstring(jp *p) {
    if (*p->s != '"') return NULL;
    p->s++;
    sb b = {0};
    while (*p->s && *p->s != '"') {
        if ((unsigned char)*p->s < 0x20) goto bad;
        if (*p->s != '\\') { sb_add(&b, p->s++, 1); continue; }
        p->s++;
        char c = *p->s++;
        switch (c) {
        case '"': sb_add(&b, "\"", 1); break;
        case '\\': sb_add(&b, "\\", 1); break;
        case '/': sb_add(&b, "/", 1); break;
        case 'b': sb_add(&b, "\b", 1); break;
        case 'f': sb_add(&b, "\f", 1); break;
        case 'n': sb_add(&b, "\n", 1); break;
        case 'r': sb_add(&b, "\r", 1); break;
        case 't': sb_add(&b, "\t", 1); break;
        case 'u': {
            unsigned cp, lo;
            if (hex4(p->s, &cp)) goto bad;
            p->s += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && p->s[0] == '\\' && p->s[1] == 'u' && !hex4(p->s + 2, &lo) &&
                lo >= 0xDC00 && lo < 0xE000) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p->s += 6;
            }
            utf8_put(&b, cp);
            break;
        }
        default: goto bad;
        }
    }
    if (*p->s != '"') goto bad;
    p->s++;
    return sb_take(&b);
bad:
    free(b.p);
    return NULL;
}

static json *jvalue(jp *p);

static void jpush(json *j, json *item, char *key) {
    j->items = realloc(j->items, (j->n + 1) * sizeof *j->items);
    if (!j->items) abort();
    j->items[j->n] = item;
    if (j->type == J_OBJ) {
        j->keys = realloc(j->keys, (j->n + 1) * sizeof *j->keys);
        if (!j->keys) abort();
        j->keys[j->n] = key;
    }
    j->n++;
}

static json *jvalue(jp *p) {
    jws(p);
    if (++p->depth > 64) return NULL;
    json *j = NULL;
    char c = *p->s;
    if (c == '{' || c == '[') {
        int obj = c == '{';
        j = jnew(obj ? J_OBJ : J_ARR);
        p->s++;
        jws(p);
        if (*p->s == (obj ? '}' : ']')) { p->s++; goto done; }
        for (;;) {
            char *key = NULL;
            if (obj) {
                jws(p);
                key = jstring(p);
                if (!key) goto bad;
                jws(p);
                if (*p->s != ':') { free(key); goto bad; }
                p->s++;
            }
            json *item = jvalue(p);
            if (!item) { free(key); goto bad; }
            jpush(j, item, key);
            jws(p);
            if (*p->s == ',') { p->s++; continue; }
            if (*p->s == (obj ? '}' : ']')) { p->s++; break; }
            goto bad;
        }
    } else if (c == '"') {
        j = jnew(J_STR);
        j->str = jstring(p);
        if (!j->str) goto bad;
    } else if (!strncmp(p->s, "true", 4)) { j = jnew(J_BOOL); j->boolean = 1; p->s += 4; }
    else if (!strncmp(p->s, "false", 5)) { j = jnew(J_BOOL); p->s += 5; }
    else if (!strncmp(p->s, "null", 4)) { j = jnew(J_NULL); p->s += 4; }
    else if (c == '-' || (c >= '0' && c <= '9')) {
        char *end;
        j = jnew(J_NUM);
        j->num = strtod(p->s, &end);
        if (end == p->s) goto bad;
        p->s = end;
    } else return NULL;
done:
    p->depth--;
    return j;
bad:
    json_free(j);
    return NULL;
}

json *json_parse(const char *text) {
    if (!text) return NULL;
    jp p = {text, 0};
    json *j = jvalue(&p);
    if (!j) return NULL;
    jws(&p);
    if (*p.s) { json_free(j); return NULL; }
    return j;
}

void json_free(json *j) {
    if (!j) return;
    for (size_t i = 0; i < j->n; i++) {
        json_free(j->items[i]);
        if (j->keys) free(j->keys[i]);
    }
    free(j->items);
    free(j->keys);
    free(j->str);
    free(j);
}

const json *json_path(const json *root, const char *path) {
    const json *j = root;
    const char *s = path;
    while (j && *s) {
        if (*s == '.') { s++; continue; }
        if (*s == '[') {
            char *end;
            unsigned long i = strtoul(s + 1, &end, 10);
            if (*end != ']' || j->type != J_ARR || i >= j->n) return NULL;
            j = j->items[i];
            s = end + 1;
            continue;
        }
        size_t n = strcspn(s, ".[");
        if (j->type != J_OBJ) return NULL;
        const json *next = NULL;
        for (size_t i = 0; i < j->n; i++)
            if (strlen(j->keys[i]) == n && !strncmp(j->keys[i], s, n)) { next = j->items[i]; break; }
        j = next;
        s += n;
    }
    return j;
}

const char *json_str(const json *root, const char *path) {
    const json *j = json_path(root, path);
    return j && j->type == J_STR ? j->str : NULL;
}

double json_num(const json *root, const char *path, double dflt) {
    const json *j = json_path(root, path);
    return j && j->type == J_NUM ? j->num : dflt;
}

size_t json_len(const json *root, const char *path) {
    const json *j = json_path(root, path);
    return j && (j->type == J_ARR || j->type == J_OBJ) ? j->n : 0;
}

/* ================================ HTTP client ============================================ */
static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* http://HOST:PORT/PATH, HOST may be [v6] */
static int split_url(const char *url, char *host, size_t hcap, char *port, size_t pcap, const char **path) {
    if (strncmp(url, "http://", 7)) return -1;
    const char *h = url + 7, *hend, *rest;
    if (*h == '[') {
        hend = strchr(h, ']');
        if (!hend) return -1;
        h++;
        rest = hend + 1;
    } else {
        hend = h + strcspn(h, ":/?");
        rest = hend;
    }
    if ((size_t)(hend - h) >= hcap) return -1;
    memcpy(host, h, (size_t)(hend - h));
    host[hend - h] = '\0';
    if (*rest == ':') {
        rest++;
        size_t n = strcspn(rest, "/?");
        if (n >= pcap) return -1;
        memcpy(port, rest, n);
        port[n] = '\0';
        rest += n;
    } else snprintf(port, pcap, "80");
    *path = *rest ? rest : "/";
    return 0;
}

static int wait_fd(int fd, short events, double deadline) {
    double left = deadline - now_s();
    if (left <= 0) return -1;
    struct pollfd pfd = {fd, events, 0};
    int r;
    do r = poll(&pfd, 1, (int)(left * 1000) + 1); while (r < 0 && errno == EINTR);
    return r > 0 ? 0 : -1;
}

int http_request(const char *method, const char *url, const char *body, int timeout_s, http_response *out) {
    memset(out, 0, sizeof *out);
    char host[128], port[16];
    const char *path;
    if (split_url(url, host, sizeof host, port, sizeof port, &path)) return -1;
    double deadline = now_s() + timeout_s;
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST;
    if (getaddrinfo(host, port, &hints, &ai) || !ai) return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) { freeaddrinfo(ai); return -1; }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    if (rc && errno != EINPROGRESS) goto fail;
    if (wait_fd(fd, POLLOUT, deadline)) goto fail;
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
    if (soerr) goto fail;

    sb req = {0};
    size_t blen = body ? strlen(body) : 0;
    sb_printf(&req, "%s %s HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\nAccept: */*\r\n", method, path, host, port);
    if (body) sb_printf(&req, "Content-Type: application/json\r\nContent-Length: %zu\r\n", blen);
    sb_puts(&req, "\r\n");
    if (body) sb_add(&req, body, blen);
    size_t off = 0;
    while (off < req.len) {
        if (wait_fd(fd, POLLOUT, deadline)) { free(req.p); goto fail; }
        ssize_t n = send(fd, req.p + off, req.len - off, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (n <= 0) { free(req.p); goto fail; }
        off += (size_t)n;
    }
    free(req.p);

    sb resp = {0};
    char buf[16384];
    for (;;) {
        if (wait_fd(fd, POLLIN, deadline)) { free(resp.p); goto fail; }
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (n < 0) { free(resp.p); goto fail; }
        if (n == 0) break;
        sb_add(&resp, buf, (size_t)n);
        /* stop early when Content-Length says the body is complete (keep-alive servers) */
        char *hend = resp.p ? strstr(resp.p, "\r\n\r\n") : NULL;
        if (hend) {
            char *cl = mime_header_raw(resp.p, "Content-Length");
            if (cl) {
                size_t want = (size_t)(hend + 4 - resp.p) + strtoul(cl, NULL, 10);
                free(cl);
                if (resp.len >= want) break;
            }
        }
    }
    close(fd);
    if (!resp.p || sscanf(resp.p, "HTTP/1.%*d %d", &out->status) != 1) { free(resp.p); return -1; }
    char *hend = strstr(resp.p, "\r\n\r\n");
    if (!hend) { free(resp.p); return -1; }
    out->headers = strndup(resp.p, (size_t)(hend - resp.p) + 2);
    const char *b = hend + 4;
    size_t blen2 = resp.len - (size_t)(b - resp.p);
    char *te = mime_header_raw(out->headers, "Transfer-Encoding");
    char *cl = mime_header_raw(out->headers, "Content-Length");
    sb outb = {0};
    if (te && strcasestr(te, "chunked")) {
        const char *q = b, *end = b + blen2;
        while (q < end) {
            size_t sz = strtoul(q, NULL, 16);
            const char *eol = strstr(q, "\r\n");
            if (!eol || sz == 0) break;
            q = eol + 2;
            if ((size_t)(end - q) < sz) sz = (size_t)(end - q);
            sb_add(&outb, q, sz);
            q += sz + 2;
        }
    } else {
        if (cl && strtoul(cl, NULL, 10) < blen2) blen2 = strtoul(cl, NULL, 10);
        sb_add(&outb, b, blen2);
    }
    free(te);
    free(cl);
    free(resp.p);
    out->body_len = outb.len;
    out->body = sb_take(&outb);
    return 0;
fail:
    close(fd);
    return -1;
}

void http_response_free(http_response *r) {
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof *r);
}

static char g_control[256];
void control_set_base(const char *url) { snprintf(g_control, sizeof g_control, "%s", url); }

json *control(const char *method, const char *path, const char *body) {
    char url[512];
    snprintf(url, sizeof url, "%s%s", g_control, path);
    http_response r;
    if (http_request(method, url, body, 20, &r)) {
        t_fail(__FILE__, __LINE__, "control plane %s %s: no answer", method, path);
        return NULL;
    }
    json *j = NULL;
    if (r.status / 100 != 2) t_fail(__FILE__, __LINE__, "control plane %s %s -> %d %s", method, path, r.status, r.body);
    else if (!(j = json_parse(r.body))) t_fail(__FILE__, __LINE__, "control plane %s %s: not JSON", method, path);
    http_response_free(&r);
    return j;
}

/* ================================ processes ============================================== */
int run_capture(char *const argv[], char **out, int timeout_s) {
    int pipefd[2];
    if (out) *out = NULL;
    if (pipe2(pipefd, O_CLOEXEC)) return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    if (rc) { close(pipefd[0]); return -1; }
    double deadline = now_s() + timeout_s;
    sb b = {0};
    char buf[4096];
    int killed = 0;
    for (;;) {
        if (wait_fd(pipefd[0], POLLIN, deadline)) { kill(pid, SIGKILL); killed = 1; break; }
        ssize_t n = read(pipefd[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        sb_add(&b, buf, (size_t)n);
    }
    close(pipefd[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    char *text = sb_take(&b);
    if (out) *out = text; else free(text);
    if (killed || !WIFEXITED(st)) return -1;
    return WEXITSTATUS(st);
}

/* ================================ files, base64 ========================================== */
char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    sb b = {0};
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) sb_add(&b, buf, n);
    fclose(f);
    if (len) *len = b.len;
    return sb_take(&b);
}

int write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t n = fwrite(data, 1, len, f);
    return (fclose(f) == 0 && n == len) ? 0 : -1;
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *b64_encode(const unsigned char *d, size_t len) {
    sb b = {0};
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)d[i] << 16 | (i + 1 < len ? (unsigned)d[i + 1] << 8 : 0) | (i + 2 < len ? d[i + 2] : 0);
        char q[4] = {B64[v >> 18], B64[(v >> 12) & 63], i + 1 < len ? B64[(v >> 6) & 63] : '=', i + 2 < len ? B64[v & 63] : '='};
        sb_add(&b, q, 4);
    }
    return sb_take(&b);
}

unsigned char *b64_decode(const char *t, size_t *len) {
    sb b = {0};
    unsigned v = 0;
    int bits = 0;
    for (; *t; t++) {
        const char *k;
        if (*t == '=' ) break;
        if (isspace((unsigned char)*t)) continue;
        if (*t == '-') k = B64 + 62; /* base64url too */
        else if (*t == '_') k = B64 + 63;
        else if (!(k = strchr(B64, *t))) { free(b.p); return NULL; }
        v = (v << 6) | (unsigned)(k - B64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            char c = (char)((v >> bits) & 0xFF);
            sb_add(&b, &c, 1);
        }
    }
    if (len) *len = b.len;
    return (unsigned char *)sb_take(&b);
}

/* ================================ MIME =================================================== */
/* The header block up to the blank line, with folds joined, as "Name: value\n" lines. */
static char *unfold(const char *h, size_t n) {
    sb b = {0};
    for (size_t i = 0; i < n; i++) {
        if (h[i] == '\r') continue;
        if (h[i] == '\n' && i + 1 < n && (h[i + 1] == ' ' || h[i + 1] == '\t')) continue;
        sb_add(&b, h + i, 1);
    }
    if (!b.len || b.p[b.len - 1] != '\n') sb_puts(&b, "\n");
    return sb_take(&b);
}

char *mime_header_raw(const char *headers, const char *name) {
    size_t n = strlen(name);
    const char *line = headers;
    while (line && *line) {
        if (!strncasecmp(line, name, n) && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ' || *v == '\t') v++;
            size_t len = strcspn(v, "\r\n");
            while (len && (v[len - 1] == ' ' || v[len - 1] == '\t')) len--;
            return strndup(v, len);
        }
        line = strchr(line, '\n');
        if (line) line++;
    }
    return NULL;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

char *rfc2047_decode(const char *v) {
    sb b = {0};
    const char *p = v;
    int last_was_word = 0;
    while (*p) {
        if (p[0] == '=' && p[1] == '?') {
            const char *cs_end = strchr(p + 2, '?');
            if (cs_end && cs_end[1] && cs_end[2] == '?') {
                char enc = (char)toupper((unsigned char)cs_end[1]);
                const char *text = cs_end + 3, *end = strstr(text, "?=");
                if (end && (enc == 'B' || enc == 'Q')) {
                    if (last_was_word) { /* drop the whitespace between two encoded words */
                        while (b.len && (b.p[b.len - 1] == ' ' || b.p[b.len - 1] == '\t')) b.len--;
                        if (b.p) b.p[b.len] = '\0';
                    }
                    char *chunk = strndup(text, (size_t)(end - text));
                    if (enc == 'B') {
                        size_t n;
                        unsigned char *d = b64_decode(chunk, &n);
                        if (d) sb_add(&b, (char *)d, n);
                        free(d);
                    } else {
                        for (char *q = chunk; *q; q++) {
                            if (*q == '_') sb_add(&b, " ", 1);
                            else if (*q == '=' && hexval(q[1]) >= 0 && hexval(q[2]) >= 0) {
                                char c = (char)(hexval(q[1]) * 16 + hexval(q[2]));
                                sb_add(&b, &c, 1);
                                q += 2;
                            } else sb_add(&b, q, 1);
                        }
                    }
                    free(chunk);
                    p = end + 2;
                    last_was_word = 1;
                    continue;
                }
            }
        }
        if (*p != ' ' && *p != '\t') last_was_word = 0;
        sb_add(&b, p++, 1);
    }
    return sb_take(&b);
}

/* A parameter of a structured header (Content-Type, Content-Disposition), RFC 2231 aware:
 * name="v", name=v, name*=utf-8''pct, name*0*=...; name*1=... */
static char *header_param(const char *value, const char *name) {
    size_t n = strlen(name);
    sb plain = {0}, ext = {0};
    int have_plain = 0, have_ext = 0;
    const char *p = strchr(value, ';');
    while (p && *p) {
        p++;
        while (*p == ' ' || *p == '\t') p++;
        const char *eq = strchr(p, '=');
        if (!eq) break;
        size_t klen = (size_t)(eq - p);
        const char *v = eq + 1;
        sb val = {0};
        if (*v == '"') {
            v++;
            while (*v && *v != '"') {
                if (*v == '\\' && v[1]) v++;
                sb_add(&val, v++, 1);
            }
            if (*v == '"') v++;
        } else {
            size_t vl = strcspn(v, ";");
            while (vl && isspace((unsigned char)v[vl - 1])) vl--;
            sb_add(&val, v, vl);
            v += vl;
        }
        char *text = sb_take(&val);
        if (klen == n && !strncasecmp(p, name, n)) {
            sb_puts(&plain, text);
            have_plain = 1;
        } else if (klen > n && !strncasecmp(p, name, n) && p[n] == '*') {
            int extended = p[klen - 1] == '*';
            const char *t = text;
            if (extended) {
                const char *q1 = strchr(t, '\'');
                if (q1 && strchr(q1 + 1, '\'') && (klen == n + 1 || !strncmp(p + n, "*0*", 3))) t = strchr(q1 + 1, '\'') + 1;
                for (; *t; t++) {
                    if (*t == '%' && hexval(t[1]) >= 0 && hexval(t[2]) >= 0) {
                        char c = (char)(hexval(t[1]) * 16 + hexval(t[2]));
                        sb_add(&ext, &c, 1);
                        t += 2;
                    } else sb_add(&ext, t, 1);
                }
            } else sb_puts(&ext, t);
            have_ext = 1;
        }
        free(text);
        p = strchr(v, ';');
    }
    if (have_ext) { free(plain.p); return sb_take(&ext); }
    free(ext.p);
    if (have_plain) {
        char *raw = sb_take(&plain);
        char *dec = rfc2047_decode(raw);
        free(raw);
        return dec;
    }
    return NULL;
}

static int mime_walk(const char *msg, size_t len, mime_message *m, int depth, char **top_headers) {
    const char *sep = NULL;
    size_t seplen = 0;
    for (size_t i = 0; i + 1 < len; i++) {
        if (msg[i] == '\n' && msg[i + 1] == '\n') { sep = msg + i; seplen = 2; break; }
        if (i + 3 < len && !memcmp(msg + i, "\r\n\r\n", 4)) { sep = msg + i; seplen = 4; break; }
    }
    if (!sep || depth > 8) return -1;
    char *headers = unfold(msg, (size_t)(sep - msg) + seplen / 2);
    const char *body = sep + seplen;
    size_t blen = len - (size_t)(body - msg);
    char *ctype = mime_header_raw(headers, "Content-Type");
    char mt[128] = "text/plain";
    if (ctype) {
        size_t k = strcspn(ctype, "; ");
        if (k >= sizeof mt) k = sizeof mt - 1;
        for (size_t i = 0; i < k; i++) mt[i] = (char)tolower((unsigned char)ctype[i]);
        mt[k] = '\0';
    }
    int rc = 0;
    if (!strncmp(mt, "multipart/", 10)) {
        char *boundary = header_param(ctype, "boundary");
        if (!boundary) { rc = -1; goto out; }
        char delim[256];
        snprintf(delim, sizeof delim, "--%s", boundary);
        size_t dl = strlen(delim);
        free(boundary);
        const char *start = NULL;
        for (const char *q = body; q + dl <= body + blen;) {
            if ((q == body || q[-1] == '\n') && !memcmp(q, delim, dl)) {
                if (start) {
                    const char *end = q;
                    if (end > start && end[-1] == '\n') end--;
                    if (end > start && end[-1] == '\r') end--;
                    if (mime_walk(start, (size_t)(end - start), m, depth + 1, NULL)) { rc = -1; goto out; }
                }
                if (q + dl + 1 < body + blen && q[dl] == '-' && q[dl + 1] == '-') break;
                const char *nl = memchr(q, '\n', (size_t)(body + blen - q));
                if (!nl) break;
                start = nl + 1;
                q = start;
                continue;
            }
            const char *nl = memchr(q, '\n', (size_t)(body + blen - q));
            if (!nl) break;
            q = nl + 1;
        }
    } else if (m->nparts < 16) {
        mime_part *part = &m->parts[m->nparts++];
        part->content_type = strdup(mt);
        char *cte = mime_header_raw(headers, "Content-Transfer-Encoding");
        char *disp = mime_header_raw(headers, "Content-Disposition");
        char *cid = mime_header_raw(headers, "Content-ID");
        part->filename = disp ? header_param(disp, "filename") : NULL;
        if (!part->filename && ctype) part->filename = header_param(ctype, "name");
        if (cid) {
            char *s = cid + (*cid == '<');
            size_t k = strcspn(s, ">");
            part->content_id = strndup(s, k);
        }
        if (cte && !strcasecmp(cte, "base64")) {
            char *tmp = strndup(body, blen);
            part->body = b64_decode(tmp, &part->body_len);
            free(tmp);
        } else if (cte && !strcasecmp(cte, "quoted-printable")) {
            sb b = {0};
            for (size_t i = 0; i < blen; i++) {
                if (body[i] == '=' && i + 1 < blen && (body[i + 1] == '\n' || body[i + 1] == '\r')) {
                    i += body[i + 1] == '\r' ? 2 : 1;
                } else if (body[i] == '=' && i + 2 < blen && hexval(body[i + 1]) >= 0 && hexval(body[i + 2]) >= 0) {
                    char c = (char)(hexval(body[i + 1]) * 16 + hexval(body[i + 2]));
                    sb_add(&b, &c, 1);
                    i += 2;
                } else sb_add(&b, body + i, 1);
            }
            part->body_len = b.len;
            part->body = (unsigned char *)sb_take(&b);
        } else {
            part->body = (unsigned char *)strndup(body, blen);
            part->body_len = blen;
        }
        free(cte);
        free(disp);
        free(cid);
    }
out:
    free(ctype);
    if (top_headers) *top_headers = headers;
    else free(headers);
    return rc;
}

int mime_parse(const char *msg, size_t len, mime_message *out) {
    memset(out, 0, sizeof *out);
    return mime_walk(msg, len, out, 0, &out->headers);
}

void mime_free(mime_message *m) {
    free(m->headers);
    for (int i = 0; i < m->nparts; i++) {
        free(m->parts[i].content_type);
        free(m->parts[i].filename);
        free(m->parts[i].content_id);
        free(m->parts[i].body);
    }
    memset(m, 0, sizeof *m);
}

char *mime_header_decoded(const mime_message *m, const char *name) {
    char *raw = m->headers ? mime_header_raw(m->headers, name) : NULL;
    if (!raw) return NULL;
    char *dec = rfc2047_decode(raw);
    free(raw);
    return dec;
}
