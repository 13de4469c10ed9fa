/* A minimal C host for the browser end-to-end test (tests/browser/run.mjs drives it).
 *
 *   host CONFIG_FILE OPTIONS_JSON OPENER
 *
 * CONFIG_FILE holds the client's config_json; OPTIONS_JSON is the authorize options ("null" for
 * NULL); OPENER is how the authorization URL reaches the browser:
 *   stdout   the url_opener prints "URL <url>" on stdout (the test's browser driver reads it)
 *   decline  the url_opener returns 1 (the host declines to open the URL)
 *   none     no url_opener: the library starts the system browser itself ($BROWSER, xdg-open)
 *
 * A line "cancel" on stdin makes a second thread call oauthmail_cancel. When authorize returns,
 * the host prints "STATUS <name> <code>", "ELAPSED_MS <n>" and "DOC <json>", where the JSON is
 * the result with every secret value replaced by "<redacted:LENGTH>" (so the test can check a
 * refresh token is present without ever printing it). Library log lines go to stderr.
 * It then keeps the client alive until a line "exit" (or the end of stdin, or 60 s), so the test
 * can check that authorize itself, not the process exit, freed the loopback port.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "oauthmail.h"

static oauthmail_client *g_client;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_exit_cond = PTHREAD_COND_INITIALIZER;
static int g_exit;

static int32_t open_via_stdout(void *user_data, const char *url) {
  (void)user_data;
  printf("URL %s\n", url);
  fflush(stdout);
  return 0;
}

static int32_t decline(void *user_data, const char *url) {
  (void)user_data;
  printf("URL %s\nOPENER_DECLINED\n", url);
  fflush(stdout);
  return 1;
}

static void log_line(void *user_data, uint32_t level, const char *message) {
  (void)user_data;
  fprintf(stderr, "[lib %u] %s\n", (unsigned)level, message);
}

static void *cancel_on_stdin(void *arg) {
  (void)arg;
  char line[64];
  while (fgets(line, sizeof line, stdin) != NULL) {
    if (strncmp(line, "cancel", 6) == 0) {
      oauthmail_cancel(g_client);
      printf("CANCEL_CALLED\n");
      fflush(stdout);
    } else if (strncmp(line, "exit", 4) == 0) {
      break;
    }
  }
  pthread_mutex_lock(&g_lock);
  g_exit = 1;
  pthread_cond_signal(&g_exit_cond);
  pthread_mutex_unlock(&g_lock);
  return NULL;
}

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return NULL;
  if (fseek(f, 0, SEEK_END) != 0) { fclose(f); return NULL; }
  long n = ftell(f);
  if (n < 0 || fseek(f, 0, SEEK_SET) != 0) { fclose(f); return NULL; }
  char *buf = malloc((size_t)n + 1);
  if (buf == NULL) { fclose(f); return NULL; }
  size_t got = fread(buf, 1, (size_t)n, f);
  fclose(f);
  buf[got] = '\0';
  return buf;
}

/* Replaces the string value of every "key": "..." in json (for the given keys) with
 * "<redacted:N>", N being the value's length in bytes. Returns a new string. */
static char *redact(const char *json) {
  static const char *const keys[] = {"\"access_token\"", "\"refresh_token\"", "\"id_token\"", "\"code\"",
                                     "\"client_secret\""};
  size_t cap = strlen(json) + 64 * 8 + 1;
  char *out = malloc(cap);
  if (out == NULL) return NULL;
  size_t o = 0;
  const char *p = json;
  while (*p) {
    size_t matched = 0;
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
      size_t len = strlen(keys[k]);
      if (strncmp(p, keys[k], len) == 0) matched = len;
    }
    if (matched == 0) {
      out[o++] = *p++;
      continue;
    }
    memcpy(out + o, p, matched);
    o += matched;
    p += matched;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ':') out[o++] = *p++;
    if (*p != '"') continue;
    p++;
    size_t n = 0;
    while (*p && *p != '"') {
      if (*p == '\\' && p[1]) { p++; }
      p++;
      n++;
    }
    if (*p == '"') p++;
    if (o + 40 >= cap) break;
    o += (size_t)snprintf(out + o, cap - o, "\"<redacted:%zu>\"", n);
  }
  out[o] = '\0';
  return out;
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s CONFIG_FILE OPTIONS_JSON stdout|decline|none\n", argv[0]);
    return 2;
  }
  char *config = read_file(argv[1]);
  if (config == NULL) {
    fprintf(stderr, "cannot read %s\n", argv[1]);
    return 2;
  }
  const char *options = strcmp(argv[2], "null") == 0 ? NULL : argv[2];

  char *out = NULL;
  oauthmail_status st = oauthmail_client_new(config, &g_client, &out);
  free(config);
  if (st != OAUTHMAIL_OK) {
    char *safe = out ? redact(out) : NULL;
    printf("STATUS %s %u\nELAPSED_MS 0\nDOC %s\n", oauthmail_status_name(st), (unsigned)st, safe ? safe : "null");
    free(safe);
    oauthmail_string_free(out);
    return 0;
  }
  oauthmail_client_set_logger(g_client, log_line, NULL, 4);
  if (strcmp(argv[3], "stdout") == 0) {
    oauthmail_client_set_url_opener(g_client, open_via_stdout, NULL);
  } else if (strcmp(argv[3], "decline") == 0) {
    oauthmail_client_set_url_opener(g_client, decline, NULL);
  } else if (strcmp(argv[3], "none") != 0) {
    fprintf(stderr, "unknown opener %s\n", argv[3]);
    return 2;
  }

  pthread_t canceller;
  if (pthread_create(&canceller, NULL, cancel_on_stdin, NULL) != 0) {
    fprintf(stderr, "pthread_create failed\n");
    return 2;
  }

  long long t0 = now_ms();
  out = NULL;
  st = oauthmail_authorize(g_client, options, &out);
  long long elapsed = now_ms() - t0;
  char *safe = out ? redact(out) : NULL;
  printf("STATUS %s %u\nELAPSED_MS %lld\nDOC %s\n", oauthmail_status_name(st), (unsigned)st, elapsed,
         safe ? safe : "null");
  fflush(stdout);
  free(safe);
  oauthmail_string_free(out);

  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 60;
  pthread_mutex_lock(&g_lock);
  while (!g_exit) {
    if (pthread_cond_timedwait(&g_exit_cond, &g_lock, &until) != 0) break;
  }
  int reader_done = g_exit;
  pthread_mutex_unlock(&g_lock);
  if (reader_done) pthread_join(canceller, NULL);
  oauthmail_client_free(g_client);
  return 0;
}
