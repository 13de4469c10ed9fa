/* Windows smoke harness for oauthmail.dll, built with mingw-w64 for x86_64 and i686 and run under
 * Wine by scripts/test.d/60-windows.sh. It links against the DLL's import library
 * (liboauthmail.dll.a) and the generated include/oauthmail.h, so it also proves that the header's
 * cdecl declarations, the import library and the DLL's undecorated exports agree.
 *
 *   smoke.exe                        version, version resource, status names, bad input
 *   smoke.exe --untrusted EMAIL      the same, then TLS refusal and tls.extra_ca_file checks
 *                                    (check_untrusted) against the local stand-in (HTTPS)
 *   smoke.exe --flow EMAIL --trust-ca ca.pem
 *                                    authorize -> refresh -> send over the Gmail API and SMTP
 *                                    against the stand-in (--auto-approve), one send as a
 *                                    Workspace user with a service account, and one send
 *                                    through Microsoft Graph; see check_flow
 *   smoke.exe --panic                a DLL built with the test-hooks feature turns a panic into
 *                                    OAUTHMAIL_INTERNAL; see check_panic
 *   smoke.exe --system-browser EMAIL --trust-ca ca.pem
 *                                    authorize with no url_opener: the DLL's ShellExecuteW starts
 *                                    fakebrowser.exe; see check_system_browser
 *   smoke.exe --store EMAIL --trust-ca ca.pem
 *                                    authorize and send through a DPAPI "user"-protected token
 *                                    store; the file holds no token in any encoding; a copy read
 *                                    with "protect": "none" fails cleanly; see check_store
 *   smoke.exe --root add|remove ca.pem
 *                                    only puts the stand-in's CA into (or takes it out of) the
 *                                    current user's Root store, for the oauthmail.exe runs of the
 *                                    test script (TEST-ONLY, as --trust-ca)
 *
 * They read config-api.json, config-smtp.json, config-extra-ca.json, config-store.json,
 * config-store-copy-none.json, config-sa.json (with the service-account key file sa-key.json) and
 * config-graph.json (with the Microsoft Graph token token-graph.json) from the working
 * directory (written by the test script) and create "dosar ășț\factură ășț.txt" (the attachment)
 * and "dosar ășț\ca șț.pem" there; the url_opener hands the authorization URL to the script's
 * "browser" through authorize-url.txt. --trust-ca puts the stand-in's CA into the current user's
 * Root certificate store and removes it at the end: a TEST-ONLY step for Wine prefixes.
 *
 * Prints one line per check and, last, "N passed, N failed". Never prints a token. */
#include <windows.h>
#include <wincrypt.h>
#include <stdarg.h>
#include <stddef.h>
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

/* The "browser" is the test script (curl on the Linux side, as a real browser is another process):
 * the opener hands it the URL through the file authorize-url.txt in the working directory and
 * returns at once; the library then waits for the redirect on its loopback port. */
struct opener_state {
    char url[8192];
    int called;
};

static int32_t __cdecl url_opener(void *user_data, const char *url) {
    struct opener_state *st = user_data;
    st->called++;
    snprintf(st->url, sizeof st->url, "%s", url);
    FILE *f = fopen("authorize-url.tmp", "wb");
    if (!f) return 1;
    fputs(url, f);
    fclose(f);
    return MoveFileExA("authorize-url.tmp", "authorize-url.txt", MOVEFILE_REPLACE_EXISTING) ? 0 : 1;
}

/* ---------------------------------------------------------------- Wine 8 compatibility (test-only)
 *
 * Like the ProcessPrng shim, these adapt two crypt32 calls of rustls-platform-verifier (the
 * DLL's certificate verifier: the Windows certificate store) to what Wine 8 implements. Every
 * Windows 10/11 handles the original calls. The harness points oauthmail.dll's imports at them.
 *
 * 1. CertCreateCertificateChainEngine (lettre creates one for every SMTP connection, the HTTPS
 *    client for tls.extra_ca_file) gets the Windows 8+ CERT_CHAIN_ENGINE_CONFIG with
 *    dwExclusiveFlags; Wine 8 knows only the Windows 7 layout and fails with E_INVALIDARG. Only
 *    then, and only when dwExclusiveFlags is 0 (so the Windows 7 layout means the same), the call
 *    is repeated with the Windows 7 size.
 * 2. CertGetCertificateChain is asked to check the server certificate's revocation; the stand-in's
 *    certificates carry no revocation information, which Windows reports as "unknown" and the
 *    verifier's CERT_CHAIN_POLICY_IGNORE_ALL_REV_UNKNOWN_FLAGS then ignores. Wine 8 ignores that
 *    policy flag and fails with CERT_E_REVOCATION_FAILURE, so the revocation check is not asked
 *    for (every other check, the host name included, still runs). */
typedef BOOL(WINAPI *chain_engine_fn)(PCERT_CHAIN_ENGINE_CONFIG, HCERTCHAINENGINE *);
typedef BOOL(WINAPI *get_chain_fn)(HCERTCHAINENGINE, PCCERT_CONTEXT, LPFILETIME, HCERTSTORE, PCERT_CHAIN_PARA, DWORD,
                                   LPVOID, PCCERT_CHAIN_CONTEXT *);
static chain_engine_fn real_create_chain_engine;
static get_chain_fn real_get_chain;
static LONG chain_engine_retries, revocation_checks_dropped;

static BOOL WINAPI compat_create_chain_engine(PCERT_CHAIN_ENGINE_CONFIG config, HCERTCHAINENGINE *engine) {
    BOOL ok = real_create_chain_engine(config, engine);
    if (!ok && GetLastError() == (DWORD)E_INVALIDARG && config && config->cbSize == sizeof *config &&
        config->dwExclusiveFlags == 0) {
        CERT_CHAIN_ENGINE_CONFIG copy = *config;
        copy.cbSize = (DWORD)offsetof(CERT_CHAIN_ENGINE_CONFIG, dwExclusiveFlags);
        ok = real_create_chain_engine(&copy, engine);
        if (ok) InterlockedIncrement(&chain_engine_retries);
    }
    return ok;
}

static BOOL WINAPI compat_get_chain(HCERTCHAINENGINE engine, PCCERT_CONTEXT cert, LPFILETIME time, HCERTSTORE extra,
                                   PCERT_CHAIN_PARA para, DWORD flags, LPVOID reserved, PCCERT_CHAIN_CONTEXT *chain) {
    const DWORD revocation = CERT_CHAIN_REVOCATION_CHECK_END_CERT | CERT_CHAIN_REVOCATION_CHECK_CHAIN |
                             CERT_CHAIN_REVOCATION_CHECK_CHAIN_EXCLUDE_ROOT;
    if (flags & revocation) InterlockedIncrement(&revocation_checks_dropped);
    return real_get_chain(engine, cert, time, extra, para, flags & ~revocation, reserved, chain);
}

/* Points every import of DLL!NAME in oauthmail.dll at `replacement` (a DLL may import one module
 * through several descriptors); returns the original function, or NULL if there was none. */
static void *patch_import(const char *dll, const char *name, void *replacement) {
    BYTE *base = (BYTE *)GetModuleHandleW(L"oauthmail.dll");
    void *original = NULL;
    if (!base) return NULL;
    IMAGE_NT_HEADERS *nt = (IMAGE_NT_HEADERS *)(base + ((IMAGE_DOS_HEADER *)base)->e_lfanew);
    IMAGE_DATA_DIRECTORY dir = nt->OptionalHeader.DataDirectory[IMAGE_DIRECTORY_ENTRY_IMPORT];
    for (IMAGE_IMPORT_DESCRIPTOR *imp = (IMAGE_IMPORT_DESCRIPTOR *)(base + dir.VirtualAddress); imp->Name; imp++) {
        if (_stricmp((char *)(base + imp->Name), dll) != 0) continue;
        IMAGE_THUNK_DATA *names = (IMAGE_THUNK_DATA *)(base + (imp->OriginalFirstThunk ? imp->OriginalFirstThunk : imp->FirstThunk));
        IMAGE_THUNK_DATA *slots = (IMAGE_THUNK_DATA *)(base + imp->FirstThunk);
        for (; names->u1.AddressOfData; names++, slots++) {
            if (IMAGE_SNAP_BY_ORDINAL(names->u1.Ordinal)) continue;
            IMAGE_IMPORT_BY_NAME *by_name = (IMAGE_IMPORT_BY_NAME *)(base + names->u1.AddressOfData);
            if (strcmp((char *)by_name->Name, name) != 0) continue;
            DWORD old;
            if (!VirtualProtect(&slots->u1.Function, sizeof slots->u1.Function, PAGE_READWRITE, &old)) return NULL;
            if (!original) original = (void *)(uintptr_t)slots->u1.Function;
            slots->u1.Function = (uintptr_t)replacement;
            VirtualProtect(&slots->u1.Function, sizeof slots->u1.Function, old, &old);
        }
    }
    return original;
}

static int install_wine_compat(void) {
    real_create_chain_engine =
        (chain_engine_fn)patch_import("crypt32.dll", "CertCreateCertificateChainEngine", (void *)compat_create_chain_engine);
    real_get_chain = (get_chain_fn)patch_import("crypt32.dll", "CertGetCertificateChain", (void *)compat_get_chain);
    return real_create_chain_engine && real_get_chain;
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

/* Adds (add != 0) or removes the PEM certificate in `pem_file` to/from the current user's Root
 * store. Under Wine this needs no confirmation; never run this harness on a real Windows machine. */
static int root_store(const char *pem_file, int add) {
    char *pem = read_file(pem_file);
    BYTE der[8192];
    DWORD der_len = sizeof der;
    int ok = 0;
    if (pem && CryptStringToBinaryA(pem, 0, CRYPT_STRING_BASE64HEADER, der, &der_len, NULL, NULL)) {
        HCERTSTORE root = CertOpenSystemStoreW(0, L"ROOT");
        PCCERT_CONTEXT cert = CertCreateCertificateContext(X509_ASN_ENCODING, der, der_len);
        if (root && cert) {
            if (add) {
                ok = CertAddCertificateContextToStore(root, cert, CERT_STORE_ADD_REPLACE_EXISTING, NULL);
            } else {
                PCCERT_CONTEXT found = CertFindCertificateInStore(root, X509_ASN_ENCODING, 0, CERT_FIND_EXISTING, cert, NULL);
                ok = found && CertDeleteCertificateFromStore(found); /* frees `found` */
            }
        }
        if (cert) CertFreeCertificateContext(cert);
        if (root) CertCloseStore(root, 0);
    }
    free(pem);
    return ok;
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

/* Sends the test message (subject "Factură smoke ARCH LABEL — șță") through `client`; `transport`
 * is what the result must say. Returns the send result (free with oauthmail_string_free) or NULL. */
static char *send_labelled(oauthmail_client *client, const char *token, const char *email, const char *transport,
                           const char *label, const char *attachment) {
    char message[4096], *result = NULL, name[64];
    snprintf(message, sizeof message,
             "{\"from\":\"Firma SRL <%s>\",\"to\":[\"Ion Popescu <ion@example.ro>\"],"
             "\"subject\":\"Factur\xc4\x83 smoke %s %s \xe2\x80\x94 \xc8\x99\xc8\x9b\xc4\x83\","
             "\"text\":\"Trimis din smoke.exe sub Wine.\","
             "\"attachments\":[{\"path\":\"%s\"}]}",
             email, ARCH_TAG, label, attachment);
    oauthmail_status rc = oauthmail_send(client, token, message, &result);
    char *message_id = rc == OAUTHMAIL_OK ? json_str(result, "message_id") : NULL;
    char *got_transport = rc == OAUTHMAIL_OK ? json_str(result, "transport") : NULL;
    snprintf(name, sizeof name, "send via %s (%s)", transport, label);
    check(rc == OAUTHMAIL_OK && message_id && got_transport && strcmp(got_transport, transport) == 0, name,
          "status %u, message_id %s%s%s", rc, or_empty(message_id), rc ? ", " : "", rc ? or_empty(result) : "");
    free(message_id);
    free(got_transport);
    if (rc != OAUTHMAIL_OK) {
        oauthmail_string_free(result);
        return NULL;
    }
    return result;
}

static void send_one(oauthmail_client *client, const char *token, const char *email, const char *transport,
                     const char *label, const char *attachment) {
    oauthmail_string_free(send_labelled(client, token, email, transport, label, attachment));
}

/* Trust, part 1, in a process where the stand-in's CA is not trusted (Wine's default chain engine
 * keeps the Root store it opened first, so a CA added later in the same process is not seen: the
 * two parts are separate runs). A refresh must fail with OAUTHMAIL_TLS naming the issuer, so
 * verification is real. Wine 8 implements no exclusive-root chain engine, which is how
 * rustls-platform-verifier applies tls.extra_ca_file on Windows, so tls.extra_ca_file is checked
 * as far as Wine allows: a non-ASCII Windows path is read and accepted, a missing one is
 * OAUTHMAIL_IO naming the field and the path. */
static void check_untrusted(const char *email) {
    char *attachment = make_attachment(); /* creates the non-ASCII directory */
    free(attachment);
    BOOL copied = CopyFileW(L"ca.pem", L"dosar \u0103\u0219\u021b\\ca \u0219\u021b.pem", FALSE);
    oauthmail_client *extra = copied ? new_client("config-extra-ca.json") : NULL;
    check(copied && extra, "tls.extra_ca_file at a non-ASCII path is read", "");
    oauthmail_client_free(extra);
    char *config = read_file("config-extra-ca.json"), *err = NULL;
    char *name = config ? strstr(config, "ca \xc8\x99\xc8\x9b.pem") : NULL;
    if (name) memcpy(name, "xx", 2); /* "xx șț.pem" does not exist */
    oauthmail_status rc = name ? oauthmail_client_new(config, &extra, &err) : OAUTHMAIL_OK;
    check(rc == OAUTHMAIL_IO && err && strstr(err, "\"field\":\"config.tls.extra_ca_file\"") &&
              strstr(err, "dosar \xc4\x83\xc8\x99\xc8\x9b\\\\xx \xc8\x99\xc8\x9b.pem"),
          "a missing tls.extra_ca_file is OAUTHMAIL_IO naming the field and the path", "status %u, %s", rc,
          or_empty(err));
    oauthmail_string_free(err);
    free(config);

    oauthmail_client *api = new_client("config-api.json");
    if (!api) return;
    char fake[512];
    snprintf(fake, sizeof fake,
             "{\"provider\":\"google\",\"email\":\"%s\",\"scope\":\"https://mail.google.com/\",\"token_type\":\"Bearer\","
             "\"access_token\":\"not-a-token\",\"expires_at\":1,\"refresh_token\":\"not-a-refresh-token\"}",
             email);
    err = NULL;
    rc = oauthmail_refresh(api, fake, &err);
    check(rc == OAUTHMAIL_TLS && err && strstr(err, "oauthmail-standin test CA"),
          "refresh while the CA is not trusted is OAUTHMAIL_TLS naming the issuer", "status %u, %s", rc, or_empty(err));
    oauthmail_string_free(err);
    oauthmail_client_free(api);
}

/* Trust, part 2, and the full flow: the stand-in's CA goes into the Windows Root store first (as a
 * corporate root deployed by an administrator), then config-api.json (Gmail API): authorize
 * (url_opener + the script's browser), refresh, send; config-smtp.json (SMTP): send with the
 * refreshed token, an attachment at a non-ASCII path in both; the CA is removed at the end. */
static void check_flow(const char *email, const char *ca_pem) {
    if (!root_store(ca_pem, 1)) {
        check(0, "stand-in CA added to the Root certificate store", "%s", ca_pem);
        return;
    }
    check(1, "stand-in CA added to the Root certificate store", "%s", ca_pem);
    char *attachment = make_attachment();
    check(attachment != NULL, "attachment file created (non-ASCII directory and name)", "");
    oauthmail_client *api = new_client("config-api.json"), *smtp = new_client("config-smtp.json");
    char *token = NULL, *refreshed = NULL, *old_access = NULL, *new_access = NULL, *old_refresh = NULL,
         *new_refresh = NULL, *ms_token = NULL, *ms_user = NULL, *ms_access = NULL;
    if (api && smtp && attachment) {
        struct opener_state st = {0};
        oauthmail_client_set_url_opener(api, url_opener, &st);
        char options[512];
        snprintf(options, sizeof options, "{\"login_hint\":\"%s\"}", email);
        DWORD t0 = GetTickCount();
        oauthmail_status rc = oauthmail_authorize(api, options, &token);
        char *got_email = rc == OAUTHMAIL_OK ? json_str(token, "email") : NULL;
        check(rc == OAUTHMAIL_OK && got_email && strcmp(got_email, email) == 0 && st.called == 1 &&
                  strstr(st.url, "code_challenge=") && strstr(st.url, "login_hint="),
              "authorize", "status %u in %lu ms, email %s, opener called %d%s%s", rc, GetTickCount() - t0,
              or_empty(got_email), st.called, rc ? ", " : "", rc ? or_empty(token) : "");
        free(got_email);
        if (rc == OAUTHMAIL_OK) {
            rc = oauthmail_refresh(api, token, &refreshed);
            old_access = json_str(token, "access_token");
            new_access = rc == OAUTHMAIL_OK ? json_str(refreshed, "access_token") : NULL;
            old_refresh = json_str(token, "refresh_token");
            new_refresh = rc == OAUTHMAIL_OK ? json_str(refreshed, "refresh_token") : NULL;
            check(rc == OAUTHMAIL_OK && old_access && new_access && strcmp(old_access, new_access) != 0 &&
                      old_refresh && new_refresh && strcmp(old_refresh, new_refresh) == 0,
                  "refresh", "status %u: new access token, same refresh token%s%s", rc, rc ? ", " : "",
                  rc ? or_empty(refreshed) : "");
            const char *current = rc == OAUTHMAIL_OK ? refreshed : token;
            send_one(api, current, email, "gmail_api", "gmail_api", attachment);
            send_one(smtp, current, email, "smtp", "smtp", attachment);
        }
        /* Issue 16: a Workspace service account (config-sa.json names its key file) sends once
         * as a user of the domain; there is no token document. */
        oauthmail_client *sa = new_client("config-sa.json");
        if (sa) send_one(sa, "{\"subject\":\"facturi@firma.ro\"}", "facturi@firma.ro", "gmail_api", "subject", attachment);
        oauthmail_client_free(sa);
        /* Issue 15: Microsoft 365 through Graph (config-graph.json; token-graph.json, a Graph
         * token the script minted through the stand-in's control plane): one send. */
        ms_token = read_file("token-graph.json");
        ms_user = ms_token ? json_str(ms_token, "email") : NULL;
        ms_access = ms_token ? json_str(ms_token, "access_token") : NULL;
        oauthmail_client *graph = ms_user && ms_access ? new_client("config-graph.json") : NULL;
        check(graph != NULL, "Microsoft Graph client and token", "token-graph.json %s", ms_token ? "read" : "missing");
        if (graph) send_one(graph, ms_token, ms_user, "graph", "graph", attachment);
        oauthmail_client_free(graph);
    }
    /* A piece of the service account's private key (base64 of its first line). */
    char *key_file = read_file("sa-key.json"), *pem = key_file ? json_str(key_file, "private_key") : NULL;
    char key_piece[33] = {0};
    if (pem && strlen(pem) > 80) memcpy(key_piece, pem + 40, 32);
    check(key_piece[0] != 0, "the service-account key file is readable", "");
    free(pem);
    free(key_file);
    check(root_store(ca_pem, 0), "stand-in CA removed from the Root certificate store", "");

    /* no secret in any log line */
    EnterCriticalSection(&log_lock);
    const char *secrets[5] = {old_access, new_access, old_refresh, new_refresh, ms_access};
    int leaked = 0;
    for (int i = 0; i < 5; i++)
        if (secrets[i] && log_text && strstr(log_text, secrets[i])) leaked++;
    check(!leaked, "no token in the log", "%d log lines", log_lines);
    check(key_piece[0] && log_text && !strstr(log_text, key_piece) && !strstr(log_text, "PRIVATE KEY"),
          "no piece of the service-account key in the log", "");
    LeaveCriticalSection(&log_lock);

    free(ms_access);
    free(ms_user);
    free(ms_token);
    free(old_access);
    free(new_access);
    free(old_refresh);
    free(new_refresh);
    oauthmail_string_free(refreshed);
    oauthmail_string_free(token);
    oauthmail_client_free(api);
    oauthmail_client_free(smtp);
    free(attachment);
}

/* A DLL built with the test-hooks feature exports oauthmail_test_panic, which panics inside the
 * library's panic guard: it must come back as OAUTHMAIL_INTERNAL with an error document, and the
 * library must keep working. On i686-pc-windows-gnu this is DWARF unwinding inside the DLL. */
static void check_panic(void) {
    typedef oauthmail_status(__cdecl * panic_fn)(char **);
    panic_fn test_panic = (panic_fn)(uintptr_t)GetProcAddress(GetModuleHandleW(L"oauthmail.dll"), "oauthmail_test_panic");
    check(test_panic != NULL, "oauthmail_test_panic exported (test-hooks build)", "");
    if (!test_panic) return;
    for (int i = 0; i < 2; i++) {
        char *err = NULL;
        oauthmail_status st = test_panic(&err);
        check(st == OAUTHMAIL_INTERNAL && err && strstr(err, "\"status\":\"internal\""),
              "a panic inside the DLL is OAUTHMAIL_INTERNAL", "status %u, %s", st, or_empty(err));
        oauthmail_string_free(err);
    }
    oauthmail_client *c = NULL;
    char *err = NULL;
    oauthmail_status st = oauthmail_client_new(NULL, &c, &err);
    check(st == OAUTHMAIL_INVALID_ARGUMENT && strcmp(oauthmail_version(), OAUTHMAIL_VERSION_STRING) == 0,
          "the library still works after the panics", "status %u", st);
    oauthmail_string_free(err);
}

/* The system-browser path (no url_opener): the DLL opens the consent page with ShellExecuteW. The
 * Wine prefix's handler of https:// URLs is pointed at fakebrowser.exe (next to smoke.exe), which
 * hands the URL to the script's browser; the previous handler is put back afterwards. */
static void check_system_browser(const char *email, const char *ca_pem) {
    const wchar_t *key_path = L"Software\\Classes\\https\\shell\\open\\command";
    HKEY key;
    if (RegCreateKeyExW(HKEY_LOCAL_MACHINE, key_path, 0, NULL, 0, KEY_READ | KEY_WRITE, NULL, &key, NULL) != ERROR_SUCCESS) {
        check(0, "https:// handler key opened", "");
        return;
    }
    wchar_t old[1024], exe[MAX_PATH], command[MAX_PATH + 16];
    DWORD old_size = sizeof old, type = 0;
    int had_old = RegQueryValueExW(key, NULL, NULL, &type, (BYTE *)old, &old_size) == ERROR_SUCCESS && type == REG_SZ;
    GetCurrentDirectoryW(MAX_PATH, exe);
    _snwprintf(command, MAX_PATH + 16, L"\"%ls\\fakebrowser.exe\" \"%%1\"", exe);
    LONG set = RegSetValueExW(key, NULL, 0, REG_SZ, (const BYTE *)command, (DWORD)((wcslen(command) + 1) * sizeof(wchar_t)));
    check(set == ERROR_SUCCESS, "https:// handler set to fakebrowser.exe", "");

    if (set == ERROR_SUCCESS && root_store(ca_pem, 1)) {
        oauthmail_client *api = new_client("config-api.json");
        if (api) {
            char options[512], *token = NULL;
            snprintf(options, sizeof options, "{\"login_hint\":\"%s\"}", email);
            DWORD t0 = GetTickCount();
            oauthmail_status rc = oauthmail_authorize(api, options, &token);
            char *got_email = rc == OAUTHMAIL_OK ? json_str(token, "email") : NULL;
            check(rc == OAUTHMAIL_OK && got_email && strcmp(got_email, email) == 0,
                  "authorize through the system browser (ShellExecuteW)", "status %u in %lu ms, email %s%s%s", rc,
                  GetTickCount() - t0, or_empty(got_email), rc ? ", " : "", rc ? or_empty(token) : "");
            free(got_email);
            oauthmail_string_free(token);
            oauthmail_client_free(api);
        }
        check(root_store(ca_pem, 0), "stand-in CA removed from the Root certificate store", "");
    } else if (set == ERROR_SUCCESS) {
        check(0, "stand-in CA added to the Root certificate store", "%s", ca_pem);
    }

    if (had_old) RegSetValueExW(key, NULL, 0, REG_SZ, (const BYTE *)old, old_size);
    else RegDeleteValueW(key, NULL);
    RegCloseKey(key);
}

/* ---------------------------------------------------------------- the token store (DPAPI) */

static const void *find_bytes(const void *hay, size_t hay_len, const void *needle, size_t needle_len) {
    if (needle_len == 0 || needle_len > hay_len) return NULL;
    const unsigned char *h = hay;
    for (size_t i = 0; i + needle_len <= hay_len; i++)
        if (h[i] == *(const unsigned char *)needle && memcmp(h + i, needle, needle_len) == 0) return h + i;
    return NULL;
}

static unsigned char *read_bytes(const char *name, size_t *len) {
    FILE *f = fopen(name, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    fclose(f);
    if (buf) *len = (size_t)n;
    return buf;
}

/* base64 of s[0..n) (n a multiple of 3, so no padding) in the standard or the URL-safe alphabet. */
static char *base64_of(const char *s, size_t n, int url_safe) {
    const char *std = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *a = url_safe ? url : std;
    char *out = malloc(n / 3 * 4 + 1), *o = out;
    for (size_t i = 0; i + 3 <= n; i += 3) {
        unsigned v = (unsigned char)s[i] << 16 | (unsigned char)s[i + 1] << 8 | (unsigned char)s[i + 2];
        *o++ = a[v >> 18 & 63]; *o++ = a[v >> 12 & 63]; *o++ = a[v >> 6 & 63]; *o++ = a[v & 63];
    }
    *o = 0;
    return out;
}

/* How `secret` could appear in `file` and be found by a grep: as it is, in UTF-16LE, in hex (both
 * cases) and in base64 (both alphabets, at each of the three alignments a base64 encoder could put
 * it at). Returns the name of the first encoding found, or NULL. */
static const char *token_in_file(const unsigned char *file, size_t len, const char *secret) {
    size_t n = strlen(secret);
    if (find_bytes(file, len, secret, n)) return "plain";
    char *wide = calloc(n * 2, 1), *hex_lo = malloc(n * 2 + 1), *hex_up = malloc(n * 2 + 1);
    for (size_t i = 0; i < n; i++) {
        wide[2 * i] = secret[i];
        sprintf(hex_lo + 2 * i, "%02x", (unsigned char)secret[i]);
        sprintf(hex_up + 2 * i, "%02X", (unsigned char)secret[i]);
    }
    const char *found = find_bytes(file, len, wide, n * 2) ? "UTF-16"
                        : find_bytes(file, len, hex_lo, n * 2) || find_bytes(file, len, hex_up, n * 2) ? "hex"
                        : NULL;
    free(wide);
    free(hex_lo);
    free(hex_up);
    for (size_t skip = 0; !found && skip < 3 && n > skip + 12; skip++) {
        size_t m = (n - skip) / 3 * 3;
        for (int url_safe = 0; !found && url_safe < 2; url_safe++) {
            char *b = base64_of(secret + skip, m, url_safe);
            if (find_bytes(file, len, b, strlen(b))) found = url_safe ? "base64url" : "base64";
            free(b);
        }
    }
    return found;
}

/* The token store, DPAPI "user": config-store.json is config-api.json plus
 * "store": {"path": "tokens.json", "protect": "user"}. Authorize saves the token under its email;
 * list shows the account and no secret; a send and a refresh through {"account": EMAIL} work (the
 * send result carries no token); the store file holds none of the tokens in any encoding a grep
 * would find; a copy read with "protect": "none" (config-store-copy-none.json) fails with
 * OAUTHMAIL_IO naming config.store.path and is left byte for byte as it was; remove empties it. */
static void check_store(const char *email, const char *ca_pem) {
    if (!root_store(ca_pem, 1)) {
        check(0, "stand-in CA added to the Root certificate store", "%s", ca_pem);
        return;
    }
    char *attachment = make_attachment();
    oauthmail_client *store = new_client("config-store.json");
    char *token = NULL, *listed = NULL, *refreshed = NULL, *sent = NULL, *secrets[3] = {NULL, NULL, NULL};
    char reference[512];
    snprintf(reference, sizeof reference, "{\"account\":\"%s\"}", email);
    if (store && attachment) {
        struct opener_state st = {0};
        oauthmail_client_set_url_opener(store, url_opener, &st);
        char options[512];
        snprintf(options, sizeof options, "{\"login_hint\":\"%s\"}", email);
        oauthmail_status rc = oauthmail_authorize(store, options, &token);
        check(rc == OAUTHMAIL_OK, "authorize with a DPAPI user store", "status %u%s%s", rc, rc ? ", " : "",
              rc ? or_empty(token) : "");
        secrets[0] = json_str(token, "access_token");
        secrets[1] = json_str(token, "refresh_token");

        rc = oauthmail_store_list(store, &listed);
        char account_field[300];
        snprintf(account_field, sizeof account_field, "\"account\":\"%s\"", email);
        check(rc == OAUTHMAIL_OK && listed && strstr(listed, account_field) && strstr(listed, "\"authorized_at\":") &&
                  !strstr(listed, "access_token") && !strstr(listed, "refresh_token"),
              "store_list names the account and no secret", "status %u", rc);

        sent = send_labelled(store, reference, email, "gmail_api", "store", attachment);
        check(sent && !strstr(sent, "\"token\""), "a send through {\"account\": ...} returns no token", "");

        rc = oauthmail_refresh(store, reference, &refreshed);
        secrets[2] = rc == OAUTHMAIL_OK ? json_str(refreshed, "access_token") : NULL;
        check(rc == OAUTHMAIL_OK && secrets[0] && secrets[2] && strcmp(secrets[0], secrets[2]) != 0,
              "refresh through {\"account\": ...} stores a new access token", "status %u", rc);

        size_t len = 0;
        unsigned char *file = read_bytes("tokens.json", &len);
        const char *sealed_header = "\"protect\": \"user\"", *sealed_member = "\"sealed\"";
        check(file && len > 0 && find_bytes(file, len, sealed_header, strlen(sealed_header)) &&
                  find_bytes(file, len, sealed_member, strlen(sealed_member)),
              "the store file is a DPAPI-sealed store", "%zu bytes", len);
        const char *names[3] = {"first access token", "refresh token", "refreshed access token"};
        for (int i = 0; i < 3; i++) {
            const char *how = file && secrets[i] ? token_in_file(file, len, secrets[i]) : "unknown";
            char name[96];
            snprintf(name, sizeof name, "the store file does not hold the %s", names[i]);
            check(secrets[i] && file && !how, name, "%s", how ? how : "not plain, UTF-16, hex, base64 or base64url");
        }

        /* A copy read as a plain store: refused, and left exactly as it was. */
        BOOL copied = CopyFileW(L"tokens.json", L"tokens-copy.json", FALSE);
        oauthmail_client *plain = copied ? new_client("config-store-copy-none.json") : NULL;
        char *err = NULL, *send_err = NULL;
        rc = plain ? oauthmail_store_list(plain, &err) : OAUTHMAIL_OK;
        check(rc == OAUTHMAIL_IO && err && strstr(err, "\"field\":\"config.store.path\"") &&
                  strstr(err, "config.store.protect is"),
              "a copy read with protect none is OAUTHMAIL_IO naming config.store.path", "status %u, %s", rc,
              or_empty(err));
        rc = plain ? oauthmail_send(plain, reference, "{\"from\":\"a@b.c\",\"to\":[\"c@d.e\"],\"text\":\"x\"}", &send_err)
                   : OAUTHMAIL_OK;
        check(rc == OAUTHMAIL_IO, "a send through the unreadable copy is OAUTHMAIL_IO", "status %u", rc);
        size_t copy_len = 0;
        unsigned char *copy = read_bytes("tokens-copy.json", &copy_len);
        check(copy && copy_len == len && memcmp(copy, file, len) == 0, "the unreadable copy was not changed", "");
        free(copy);
        free(file);
        oauthmail_string_free(err);
        oauthmail_string_free(send_err);
        oauthmail_client_free(plain);

        char *removed = NULL, *after = NULL;
        rc = oauthmail_store_remove(store, email, &removed);
        oauthmail_status rc2 = oauthmail_store_list(store, &after);
        check(rc == OAUTHMAIL_OK && removed && strstr(removed, "\"removed\":true") && rc2 == OAUTHMAIL_OK && after &&
                  strstr(after, "\"accounts\":[]"),
              "store_remove removes the account", "status %u / %u", rc, rc2);
        oauthmail_string_free(removed);
        oauthmail_string_free(after);
    }
    check(root_store(ca_pem, 0), "stand-in CA removed from the Root certificate store", "");

    EnterCriticalSection(&log_lock);
    int leaked = 0;
    for (int i = 0; i < 3; i++)
        if (secrets[i] && log_text && strstr(log_text, secrets[i])) leaked++;
    check(!leaked, "no token in the log", "%d log lines", log_lines);
    LeaveCriticalSection(&log_lock);

    for (int i = 0; i < 3; i++) free(secrets[i]);
    oauthmail_string_free(token);
    oauthmail_string_free(listed);
    oauthmail_string_free(refreshed);
    oauthmail_string_free(sent);
    oauthmail_client_free(store);
    free(attachment);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    InitializeCriticalSection(&log_lock);
    printf("smoke.exe (%s) against oauthmail.dll %s\n", ARCH_TAG, or_empty(oauthmail_version()));
    check(install_wine_compat(), "Wine 8 compatibility wrappers for two crypt32 calls installed", "");

    if (argc == 1 || (argc == 3 && strcmp(argv[1], "--untrusted") == 0)) {
        check_version();
        check_version_resource();
        check_bad_input();
        if (argc == 3) check_untrusted(argv[2]);
    } else if (argc == 5 && strcmp(argv[1], "--flow") == 0 && strcmp(argv[3], "--trust-ca") == 0) {
        check_flow(argv[2], argv[4]);
    } else if (argc == 2 && strcmp(argv[1], "--panic") == 0) {
        check_panic();
    } else if (argc == 5 && strcmp(argv[1], "--system-browser") == 0 && strcmp(argv[3], "--trust-ca") == 0) {
        check_system_browser(argv[2], argv[4]);
    } else if (argc == 5 && strcmp(argv[1], "--store") == 0 && strcmp(argv[3], "--trust-ca") == 0) {
        check_store(argv[2], argv[4]);
    } else if (argc == 4 && strcmp(argv[1], "--root") == 0 &&
               (strcmp(argv[2], "add") == 0 || strcmp(argv[2], "remove") == 0)) {
        int add = strcmp(argv[2], "add") == 0;
        check(root_store(argv[3], add), add ? "stand-in CA added to the Root certificate store"
                                            : "stand-in CA removed from the Root certificate store", "%s", argv[3]);
    } else {
        check(0, "arguments",
              "usage: smoke.exe [--untrusted EMAIL | --flow EMAIL --trust-ca ca.pem | --system-browser EMAIL --trust-ca "
              "ca.pem | --store EMAIL --trust-ca ca.pem | --root add|remove ca.pem | --panic]");
    }
    printf("Wine compatibility: chain engine retried with the Windows 7 layout %ld time(s), revocation check "
           "dropped %ld time(s)\n", (long)chain_engine_retries, (long)revocation_checks_dropped);

    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
