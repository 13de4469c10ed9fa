/* Windows smoke harness for oauthmail.dll, built with mingw-w64 for x86_64 and i686 and run under
 * Wine by scripts/test.d/60-windows.sh. It links against the DLL's import library
 * (liboauthmail.dll.a) and the generated include/oauthmail.h, so it also proves that the header's
 * cdecl declarations, the import library and the DLL's undecorated exports agree.
 *
 *   smoke.exe                      version, version resource, status names, bad input
 *   smoke.exe --flow EMAIL         the same, then authorize -> refresh -> send (SMTP and Gmail API)
 *                                  against the local stand-in (started with --auto-approve --http)
 *
 * --flow reads, from the working directory: config-smtp.json and config-api.json (client
 * configurations written by the test script, with `tls.extra_ca_file` as a Windows path) and
 * creates the attachment "dosar ășț\factură ășț.txt" there. The url_opener follows the stand-in's
 * redirects with a small HTTP/1.1 client over Winsock, on its own thread.
 *
 * Prints one line per check and, last, "N passed, N failed". Never prints a token. */
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oauthmail.h"

#define ARCH_TAG (sizeof(void *) == 8 ? "x64" : "x86")

static int passed, failed;

static void check(int ok, const char *name, const char *fmt, ...) {
    printf("%s %s", ok ? "ok  " : "FAIL", name);
    if (fmt && *fmt) {
        va_list ap;
        va_start(ap, fmt);
        printf(": ");
        vprintf(fmt, ap);
        va_end(ap);
    }
    printf("\n");
    if (ok) passed++; else failed++;
}

static const char *or_empty(const char *s) { return s ? s : "(null)"; }

/* ---------------------------------------------------------------- small helpers */

static char *read_file(const char *name) {
    FILE *f = fopen(name, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    if (buf) buf[n] = 0;
    fclose(f);
    return buf;
}

static char *utf8_of(const wchar_t *w) {
    int n = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
    char *s = malloc((size_t)n);
    WideCharToMultiByte(CP_UTF8, 0, w, -1, s, n, NULL, NULL);
    return s;
}

/* The value of a top-level-ish JSON string member "key":"value" (no escapes in the values we
 * look at: tokens, emails, ids). Returns a malloc'd copy or NULL. */
static char *json_str(const char *doc, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = doc ? strstr(doc, pat) : NULL;
    if (!p) return NULL;
    p += strlen(pat);
    const char *e = strchr(p, '"');
    if (!e) return NULL;
    char *v = malloc((size_t)(e - p) + 1);
    memcpy(v, p, (size_t)(e - p));
    v[e - p] = 0;
    return v;
}

/* ---------------------------------------------------------------- logger */

static CRITICAL_SECTION log_lock;
static char *log_text; /* every log line, to check that no secret was logged */
static size_t log_len;
static int log_lines;

static void __cdecl logger(void *user_data, uint32_t level, const char *message) {
    (void)level;
    EnterCriticalSection(&log_lock);
    if (user_data == (void *)&log_lock) {
        size_t n = strlen(message);
        char *grown = realloc(log_text, log_len + n + 2);
        if (grown) {
            log_text = grown;
            memcpy(log_text + log_len, message, n);
            log_len += n;
            log_text[log_len++] = '\n';
            log_text[log_len] = 0;
            log_lines++;
        }
    }
    LeaveCriticalSection(&log_lock);
}

/* ---------------------------------------------------------------- the url_opener */

/* One HTTP/1.1 GET of an http:// URL. Returns the status code (0 on failure) and copies the
 * Location header, if any, into `location`. Bounded by 20 s receive/send timeouts. */
static int http_get(const char *url, char *location, size_t location_size) {
    char host[256], port[16] = "80";
    const char *p = url, *path;
    location[0] = 0;
    if (strncmp(p, "http://", 7) != 0) return 0;
    p += 7;
    path = strchr(p, '/');
    size_t hostlen = path ? (size_t)(path - p) : strlen(p);
    if (!path) path = "/";
    if (hostlen >= sizeof host) return 0;
    memcpy(host, p, hostlen);
    host[hostlen] = 0;
    char *colon = strrchr(host, ':');
    if (colon && host[0] != '[') {
        snprintf(port, sizeof port, "%s", colon + 1);
        *colon = 0;
    }
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai) return 0;
    SOCKET s = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (s == INVALID_SOCKET) { freeaddrinfo(ai); return 0; }
    DWORD ms = 20000;
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, (const char *)&ms, sizeof ms);
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, (const char *)&ms, sizeof ms);
    if (connect(s, ai->ai_addr, (int)ai->ai_addrlen) != 0) { closesocket(s); freeaddrinfo(ai); return 0; }
    freeaddrinfo(ai);
    size_t reqsize = strlen(path) + strlen(host) + 128;
    char *req = malloc(reqsize);
    int reqlen = snprintf(req, reqsize, "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: oauthmail-smoke\r\n"
                          "Connection: close\r\n\r\n", path, host, port);
    int sent = send(s, req, reqlen, 0);
    free(req);
    if (sent != reqlen) { closesocket(s); return 0; }
    static char resp[65536];
    int got = 0, n;
    while (got < (int)sizeof resp - 1 && (n = recv(s, resp + got, (int)sizeof resp - 1 - got, 0)) > 0) got += n;
    closesocket(s);
    resp[got] = 0;
    int status = 0;
    if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1) return 0;
    char *end_of_headers = strstr(resp, "\r\n\r\n");
    if (end_of_headers) *end_of_headers = 0;
    for (char *line = strstr(resp, "\r\n"); line; line = strstr(line + 2, "\r\n")) {
        if (_strnicmp(line + 2, "Location:", 9) == 0) {
            const char *v = line + 11;
            while (*v == ' ') v++;
            size_t len = strcspn(v, "\r\n");
            if (len >= location_size) len = location_size - 1;
            memcpy(location, v, len);
            location[len] = 0;
        }
    }
    return status;
}

struct opener_state {
    char url[8192];
    int called;
    int redirects_followed;
    int final_status;
    HANDLE thread;
};

/* Follows the redirects like a browser would: the stand-in's authorization endpoint (auto-approve)
 * answers 302 to the library's loopback listener, which answers with its page. */
static DWORD WINAPI browser_thread(void *arg) {
    struct opener_state *st = arg;
    static char url[8192], location[8192];
    snprintf(url, sizeof url, "%s", st->url);
    for (int hop = 0; hop < 5; hop++) {
        int status = http_get(url, location, sizeof location);
        st->final_status = status;
        if (status >= 300 && status < 400 && location[0]) {
            st->redirects_followed++;
            snprintf(url, sizeof url, "%s", location);
            continue;
        }
        break;
    }
    return 0;
}

/* The url_opener must return at once: the library accepts the redirect only after it returns. */
static int32_t __cdecl url_opener(void *user_data, const char *url) {
    struct opener_state *st = user_data;
    st->called++;
    snprintf(st->url, sizeof st->url, "%s", url);
    st->thread = CreateThread(NULL, 0, browser_thread, st, 0, NULL);
    return st->thread ? 0 : 1;
}

/* ---------------------------------------------------------------- checks */

static void check_version(void) {
    const char *v = oauthmail_version();
    check(v && strcmp(v, OAUTHMAIL_VERSION_STRING) == 0, "version", "\"%s\" (header %s)", or_empty(v),
          OAUTHMAIL_VERSION_STRING);
    check(strcmp(oauthmail_status_name(OAUTHMAIL_INVALID_ARGUMENT), "invalid_argument") == 0 &&
              strcmp(oauthmail_status_name(OAUTHMAIL_INTERNAL), "internal") == 0 &&
              strcmp(oauthmail_status_name(9999), "unknown") == 0,
          "status_name", "");
}

/* The DLL's VERSIONINFO resource (windows/oauthmail.rc, linked in by build.rs) says the same
 * version as oauthmail_version(). */
static void check_version_resource(void) {
    wchar_t path[MAX_PATH];
    HMODULE dll = GetModuleHandleW(L"oauthmail.dll");
    if (!dll || !GetModuleFileNameW(dll, path, MAX_PATH)) {
        check(0, "version_resource", "oauthmail.dll module not found (error %lu)", GetLastError());
        return;
    }
    DWORD ignored, size = GetFileVersionInfoSizeW(path, &ignored);
    void *data = size ? malloc(size) : NULL;
    if (!data || !GetFileVersionInfoW(path, 0, size, data)) {
        check(0, "version_resource", "no VERSIONINFO in oauthmail.dll (error %lu)", GetLastError());
        free(data);
        return;
    }
    VS_FIXEDFILEINFO *fixed = NULL;
    UINT len = 0;
    int fixed_ok = VerQueryValueW(data, L"\\", (void **)&fixed, &len) && fixed &&
                   fixed->dwFileVersionMS == (DWORD)((OAUTHMAIL_VERSION_MAJOR << 16) | OAUTHMAIL_VERSION_MINOR) &&
                   fixed->dwFileVersionLS == (DWORD)(OAUTHMAIL_VERSION_PATCH << 16) &&
                   (fixed->dwFileType == VFT_DLL);
    wchar_t *product = NULL, *file_version = NULL, *original = NULL;
    UINT l1 = 0, l2 = 0, l3 = 0;
    VerQueryValueW(data, L"\\StringFileInfo\\040904B0\\ProductName", (void **)&product, &l1);
    VerQueryValueW(data, L"\\StringFileInfo\\040904B0\\FileVersion", (void **)&file_version, &l2);
    VerQueryValueW(data, L"\\StringFileInfo\\040904B0\\OriginalFilename", (void **)&original, &l3);
    char *fv = file_version ? utf8_of(file_version) : NULL;
    int strings_ok = product && wcscmp(product, L"liboauthmail") == 0 && fv &&
                     strcmp(fv, OAUTHMAIL_VERSION_STRING) == 0 && original && wcscmp(original, L"oauthmail.dll") == 0;
    check(fixed_ok && strings_ok, "version_resource", "FileVersion \"%s\"%s", or_empty(fv),
          fixed_ok ? "" : ", VS_FIXEDFILEINFO wrong");
    free(fv);
    free(data);
}

static void check_bad_input(void) {
    oauthmail_client *c = (oauthmail_client *)1;
    char *err = NULL;
    oauthmail_status st = oauthmail_client_new(NULL, &c, &err);
    check(st == OAUTHMAIL_INVALID_ARGUMENT && c == NULL && err && strstr(err, "\"field\":\"config\"") &&
              strstr(err, "\"status\":\"invalid_argument\""),
          "client_new(NULL) is INVALID_ARGUMENT naming config", "status %u, %s", st, or_empty(err));
    oauthmail_string_free(err);

    err = NULL;
    st = oauthmail_client_new("{\"provider\":\"google\",\"client_id\":\"x.apps.googleusercontent.com\","
                              "\"client_secret\":\"s\",\"tls\":{\"extra_ca_fille\":\"C:\\\\ca.pem\"}}",
                              &c, &err);
    check(st == OAUTHMAIL_INVALID_ARGUMENT && c == NULL && err && strstr(err, "\"field\":\"config.tls.extra_ca_fille\""),
          "client_new with an unknown field names it", "status %u, %s", st, or_empty(err));
    oauthmail_string_free(err);

    err = NULL;
    st = oauthmail_client_new("{\"provider\":\"google\",\"client_id\":\"\xff\xfe\"}", &c, &err);
    check(st == OAUTHMAIL_INVALID_ARGUMENT && err && strstr(err, "UTF-8"), "client_new with invalid UTF-8",
          "status %u, %s", st, or_empty(err));
    oauthmail_string_free(err);

    err = NULL;
    st = oauthmail_send(NULL, "{}", "{}", &err);
    check(st == OAUTHMAIL_INVALID_ARGUMENT && err && strstr(err, "\"field\":\"client\""),
          "send(NULL client) is INVALID_ARGUMENT", "status %u, %s", st, or_empty(err));
    oauthmail_string_free(err);

    oauthmail_string_free(NULL);
    oauthmail_client_free(NULL);
    oauthmail_cancel(NULL);
    check(1, "NULL frees and cancel are no-ops", "");
}

/* Creates "<cwd>\dosar ășț\factură ășț.txt" with the wide-char API and returns its UTF-8 path,
 * JSON-escaped (backslashes doubled). */
static char *make_attachment(void) {
    wchar_t cwd[MAX_PATH], dir[MAX_PATH], file[MAX_PATH];
    GetCurrentDirectoryW(MAX_PATH, cwd);
    _snwprintf(dir, MAX_PATH, L"%ls\\dosar \u0103\u0219\u021b", cwd);
    _snwprintf(file, MAX_PATH, L"%ls\\factur\u0103 \u0103\u0219\u021b.txt", dir);
    CreateDirectoryW(dir, NULL);
    HANDLE h = CreateFileW(file, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE) return NULL;
    char content[128];
    int n = snprintf(content, sizeof content, "Factura de test (%s) \xc4\x83\xc8\x99\xc8\x9b\r\n", ARCH_TAG);
    DWORD written = 0;
    WriteFile(h, content, (DWORD)n, &written, NULL);
    CloseHandle(h);
    char *utf8 = utf8_of(file);
    char *escaped = malloc(strlen(utf8) * 2 + 1), *q = escaped;
    for (const char *p = utf8; *p; p++) {
        if (*p == '\\') *q++ = '\\';
        *q++ = *p;
    }
    *q = 0;
    free(utf8);
    return escaped;
}

static oauthmail_client *new_client(const char *config_file) {
    char *config = read_file(config_file);
    oauthmail_client *c = NULL;
    char *err = NULL;
    oauthmail_status st = config ? oauthmail_client_new(config, &c, &err) : OAUTHMAIL_IO;
    check(st == OAUTHMAIL_OK && c, "client_new", "%s: status %u %s", config_file, st, err ? err : "");
    oauthmail_string_free(err);
    free(config);
    if (c) oauthmail_client_set_logger(c, logger, &log_lock, 5);
    return c;
}

static void check_flow(const char *email) {
    oauthmail_client *smtp = new_client("config-smtp.json"), *api = new_client("config-api.json");
    if (!smtp || !api) return;

    /* authorize */
    struct opener_state st = {0};
    oauthmail_client_set_url_opener(smtp, url_opener, &st);
    char options[512], *token = NULL;
    snprintf(options, sizeof options, "{\"login_hint\":\"%s\"}", email);
    DWORD t0 = GetTickCount();
    oauthmail_status rc = oauthmail_authorize(smtp, options, &token);
    if (st.thread) {
        WaitForSingleObject(st.thread, 30000);
        CloseHandle(st.thread);
    }
    char *got_email = rc == OAUTHMAIL_OK ? json_str(token, "email") : NULL;
    check(rc == OAUTHMAIL_OK && got_email && strcmp(got_email, email) == 0 && st.called == 1 &&
              strstr(st.url, "code_challenge=") && st.redirects_followed >= 1 && st.final_status == 200,
          "authorize", "status %u in %lu ms, email %s, opener called %d, redirects %d, page %d%s%s", rc,
          GetTickCount() - t0, or_empty(got_email), st.called, st.redirects_followed, st.final_status,
          rc ? ", " : "", rc ? or_empty(token) : "");
    free(got_email);
    if (rc != OAUTHMAIL_OK) { oauthmail_string_free(token); return; }

    /* refresh */
    char *refreshed = NULL;
    rc = oauthmail_refresh(smtp, token, &refreshed);
    char *old_access = json_str(token, "access_token"), *new_access = rc == OAUTHMAIL_OK ? json_str(refreshed, "access_token") : NULL;
    char *old_refresh = json_str(token, "refresh_token"), *new_refresh = rc == OAUTHMAIL_OK ? json_str(refreshed, "refresh_token") : NULL;
    check(rc == OAUTHMAIL_OK && old_access && new_access && strcmp(old_access, new_access) != 0 && old_refresh &&
              new_refresh && strcmp(old_refresh, new_refresh) == 0,
          "refresh", "status %u: new access token, same refresh token%s%s", rc, rc ? ", " : "", rc ? or_empty(refreshed) : "");
    if (rc != OAUTHMAIL_OK) { oauthmail_string_free(refreshed); refreshed = NULL; }

    /* send, once per transport, with a non-ASCII Windows path as attachment */
    char *attachment = make_attachment();
    check(attachment != NULL, "attachment file created", "");
    const char *use = refreshed ? refreshed : token;
    const char *transports[2] = {"smtp", "gmail_api"};
    oauthmail_client *clients[2] = {smtp, api};
    for (int i = 0; i < 2 && attachment; i++) {
        char message[4096], *result = NULL;
        snprintf(message, sizeof message,
                 "{\"from\":\"Firma SRL <%s>\",\"to\":[\"Ion Popescu <ion@example.ro>\"],"
                 "\"subject\":\"Factur\xc4\x83 smoke %s %s \xe2\x80\x94 \xc8\x99\xc8\x9b\xc4\x83\","
                 "\"text\":\"Trimis din smoke.exe sub Wine.\","
                 "\"attachments\":[{\"path\":\"%s\"}]}",
                 email, ARCH_TAG, transports[i], attachment);
        rc = oauthmail_send(clients[i], use, message, &result);
        char *message_id = rc == OAUTHMAIL_OK ? json_str(result, "message_id") : NULL;
        char *transport = rc == OAUTHMAIL_OK ? json_str(result, "transport") : NULL;
        char name[64];
        snprintf(name, sizeof name, "send via %s", transports[i]);
        check(rc == OAUTHMAIL_OK && message_id && transport && strcmp(transport, transports[i]) == 0, name,
              "status %u, message_id %s%s%s", rc, or_empty(message_id), rc ? ", " : "", rc ? or_empty(result) : "");
        free(message_id);
        free(transport);
        oauthmail_string_free(result);
    }
    free(attachment);

    /* no secret in any log line */
    EnterCriticalSection(&log_lock);
    const char *secrets[4] = {old_access, new_access, old_refresh, new_refresh};
    int leaked = 0;
    for (int i = 0; i < 4; i++)
        if (secrets[i] && log_text && strstr(log_text, secrets[i])) leaked++;
    check(!leaked, "no token in the log", "%d log lines", log_lines);
    LeaveCriticalSection(&log_lock);

    free(old_access); free(new_access); free(old_refresh); free(new_refresh);
    oauthmail_string_free(refreshed);
    oauthmail_string_free(token);
    oauthmail_client_free(smtp);
    oauthmail_client_free(api);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    InitializeCriticalSection(&log_lock);
    WSADATA wsa;
    WSAStartup(MAKEWORD(2, 2), &wsa);
    printf("smoke.exe (%s) against oauthmail.dll %s\n", ARCH_TAG, or_empty(oauthmail_version()));

    check_version();
    check_version_resource();
    check_bad_input();
    if (argc == 3 && strcmp(argv[1], "--flow") == 0) check_flow(argv[2]);
    else if (argc != 1) check(0, "arguments", "usage: smoke.exe [--flow EMAIL]");

    printf("%d passed, %d failed\n", passed, failed);
    WSACleanup();
    return failed ? 1 : 0;
}
