/*
 * demo.c: a C host using liboauthmail end to end, the way an ERP would:
 *   1. authorize a Gmail account (consent in the browser, loopback redirect, PKCE),
 *   2. refresh the access token,
 *   3. send an invoice with a PDF attachment through the Gmail API,
 *   4. send it again through Gmail SMTP (XOAUTH2).
 *
 * scripts/demo.sh builds it and runs it against the local Google stand-in:
 *   demo CONFIG_FILE ACCOUNT ATTACHMENT CA_FILE
 * CONFIG_FILE holds the client configuration (see README, "Client configuration"), ACCOUNT is the
 * Gmail address to authorize, ATTACHMENT the file to send, CA_FILE the stand-in's CA (for curl).
 *
 * Build: cc -std=c11 -Wall -Wextra -Iinclude examples/demo.c -Ltarget/debug -loauthmail
 */
#define _GNU_SOURCE
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oauthmail.h"

extern char **environ;

/* ---------------------------------------------------------------------------------------------
 * The url_opener. A real application leaves it unset (the library opens the system browser) or
 * shows the URL in its own window. The demo has nobody to click "Allow", so it plays the browser
 * with curl: the stand-in runs with --auto-approve and redirects at once to the library's loopback
 * listener, which curl follows. It runs in the background: the library starts listening for the
 * redirect only after this function returns.
 * ------------------------------------------------------------------------------------------- */
static int32_t open_url(void *user_data, const char *url) {
    const char *ca_file = user_data;
    printf("   opening in a (headless) browser:\n     %s\n", url);
    char *argv[] = {"curl", "--silent", "--show-error", "--location", "--max-time", "60",
                    "--cacert", (char *)ca_file, "--output", "/dev/null", (char *)url, NULL};
    pid_t pid;
    return posix_spawnp(&pid, "curl", NULL, NULL, argv, environ) == 0 ? 0 : 1;
}

/* Library log lines, shown indented. Level 3 = info and above; they never contain a secret. */
static void log_line(void *user_data, uint32_t level, const char *message) {
    (void)user_data;
    static const char *names[] = {"", "error", "warn", "info", "debug", "trace"};
    printf("     [liboauthmail %s] %s\n", level <= 5 ? names[level] : "?", message);
}

/* The value of a top-level string field in the library's compact JSON ({"key":"value",...}).
 * Enough for a demo; a real host uses its JSON library. Returns a static buffer. */
static const char *field(const char *json, const char *key) {
    static char value[4096];
    char pattern[128];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    const char *start = json ? strstr(json, pattern) : NULL;
    if (!start) return "";
    start += strlen(pattern);
    size_t n = strcspn(start, "\"");
    if (n >= sizeof value) n = sizeof value - 1;
    memcpy(value, start, n);
    value[n] = '\0';
    return value;
}

/* Tokens are secrets: show only their first four characters and their length. */
static const char *masked(const char *secret) {
    static char out[64];
    snprintf(out, sizeof out, "%.4s… (%zu characters)", secret, strlen(secret));
    return out;
}

/* On failure every call returns a status and an error document with a message and a hint. */
static int failed(const char *what, oauthmail_status status, char *error_json) {
    fprintf(stderr, "\n✗ %s failed: %s (%u)\n  %s\n", what, oauthmail_status_name(status), status,
            error_json ? error_json : "");
    oauthmail_string_free(error_json);
    return 1;
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *text = calloc(1, (size_t)n + 1);
    if (text && fread(text, 1, (size_t)n, f) != (size_t)n) text[0] = '\0';
    fclose(f);
    return text;
}

/* A client for one transport: the configuration with "transport" set. */
static oauthmail_client *make_client(const char *config, const char *transport, const char *ca_file) {
    char *with_transport = malloc(strlen(config) + 64);
    sprintf(with_transport, "{\"transport\": \"%s\", %s", transport, strchr(config, '{') + 1);
    oauthmail_client *client = NULL;
    char *error = NULL;
    oauthmail_status status = oauthmail_client_new(with_transport, &client, &error);
    free(with_transport);
    if (status != OAUTHMAIL_OK) {
        failed("oauthmail_client_new", status, error);
        return NULL;
    }
    oauthmail_client_set_url_opener(client, open_url, (void *)ca_file);
    oauthmail_client_set_logger(client, log_line, NULL, 3);
    return client;
}

static int send_invoice(oauthmail_client *client, const char *token, const char *account, const char *attachment,
                        const char *via) {
    char message[4096];
    snprintf(message, sizeof message,
             "{\"from\": \"Firma Exemplu SRL <%s>\","
             " \"to\": [\"Ion Popescu <ion.popescu@example.ro>\"],"
             " \"bcc\": [\"arhiva@firma-exemplu.ro\"],"
             " \"subject\": \"Factura nr. 2026-0042 — scadență 15 decembrie (%s)\","
             " \"text\": \"Bună ziua,\\n\\nVă trimitem atașat factura nr. 2026-0042.\\n"
             "Plata se face în 30 de zile. Mulțumim!\\n\\nFirma Exemplu SRL\","
             " \"html\": \"<p>Bună ziua,</p><p>Vă trimitem atașat <b>factura nr. 2026-0042</b>.</p>"
             "<p>Plata se face în 30 de zile. Mulțumim!</p>\","
             " \"attachments\": [{\"path\": \"%s\"}],"
             " \"headers\": {\"X-Document-Id\": \"FCT-2026-0042\"}}",
             account, via, attachment);
    char *result = NULL;
    oauthmail_status status = oauthmail_send(client, token, message, &result);
    if (status != OAUTHMAIL_OK) return failed("oauthmail_send", status, result);
    printf("   ✓ sent: Message-ID %s", field(result, "message_id"));
    if (*field(result, "provider_id")) printf(", Gmail id %s", field(result, "provider_id"));
    printf("\n");
    oauthmail_string_free(result);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s CONFIG_FILE ACCOUNT ATTACHMENT CA_FILE\n", argv[0]);
        return 2;
    }
    const char *account = argv[2], *attachment = argv[3], *ca_file = argv[4];
    signal(SIGCHLD, SIG_IGN); /* the curl "browser" is reaped automatically */
    setvbuf(stdout, NULL, _IOLBF, 0);
    char *config = read_text(argv[1]);
    if (!config || !strchr(config, '{')) {
        fprintf(stderr, "cannot read the configuration %s\n", argv[1]);
        return 2;
    }
    printf("liboauthmail %s (header %s)\n\n", oauthmail_version(), OAUTHMAIL_VERSION_STRING);

    int rc = 1;
    char *token = NULL, *fresh = NULL, *error = NULL;
    oauthmail_client *api = make_client(config, "gmail_api", ca_file);
    oauthmail_client *smtp = make_client(config, "smtp", ca_file);
    if (!api || !smtp) goto done;

    /* 1. Authorize: the user consents once; the host stores the token document it gets back. */
    printf("1. Authorizing %s\n", account);
    char options[512];
    snprintf(options, sizeof options, "{\"login_hint\": \"%s\"}", account);
    oauthmail_status status = oauthmail_authorize(api, options, &token);
    if (status != OAUTHMAIL_OK) { rc = failed("oauthmail_authorize", status, token); token = NULL; goto done; }
    printf("   ✓ authorized %s\n", field(token, "email"));
    printf("     access token  %s\n", masked(field(token, "access_token")));
    printf("     refresh token %s\n", masked(field(token, "refresh_token")));
    printf("     scope         %s\n\n", field(token, "scope"));

    /* 2. Refresh: a new access token from the stored refresh token (send also does this by
     *    itself when the token is about to expire). */
    printf("2. Refreshing the access token\n");
    status = oauthmail_refresh(api, token, &fresh);
    if (status != OAUTHMAIL_OK) { rc = failed("oauthmail_refresh", status, fresh); fresh = NULL; goto done; }
    printf("   ✓ new access token %s\n", masked(field(fresh, "access_token")));
    printf("     refresh token kept: %s\n\n",
           strcmp(field(fresh, "refresh_token"), field(token, "refresh_token")) == 0 ? "yes" : "NO");

    /* 3 and 4. Send the invoice through both transports with the same token document. */
    printf("3. Sending the invoice through the Gmail API\n");
    if (send_invoice(api, fresh, account, attachment, "Gmail API")) goto done;
    printf("\n4. Sending the invoice through Gmail SMTP (XOAUTH2)\n");
    if (send_invoice(smtp, fresh, account, attachment, "SMTP")) goto done;
    printf("\n");
    rc = 0;

done:
    oauthmail_string_free(token);
    oauthmail_string_free(fresh);
    oauthmail_string_free(error);
    oauthmail_client_free(api);
    oauthmail_client_free(smtp);
    free(config);
    return rc;
}
