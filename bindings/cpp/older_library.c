/* A liboauthmail as the builds before oauthmail_check, oauthmail_client_set_progress and the token
   store were (version 0.1.0, every other entry point; the calls do nothing useful): the C++
   header's OAUTHMAIL_DYNAMIC mode must load it, and throw NotInstalled only when a program calls
   one of the newer functions (bindings/cpp/test_dynamic.cpp, "older" mode). */
#include <stddef.h>
#include <stdint.h>

typedef struct oauthmail_client oauthmail_client;
static int handle;

static uint32_t fail(char **out) {
    if (out) *out = NULL;
    return 12; /* OAUTHMAIL_PROVIDER, without a document */
}

const char *oauthmail_version(void) { return "0.1.0"; }
const char *oauthmail_status_name(uint32_t status) { return status == 0 ? "ok" : "unknown"; }
uint32_t oauthmail_client_new(const char *config, oauthmail_client **out_client, char **out) {
    (void)config;
    *out_client = (oauthmail_client *)&handle;
    if (out) *out = NULL;
    return 0;
}
void oauthmail_client_free(oauthmail_client *c) { (void)c; }
uint32_t oauthmail_client_set_url_opener(oauthmail_client *c, void *opener, void *user_data) {
    (void)opener; (void)user_data;
    return c ? 0 : 1;
}
uint32_t oauthmail_client_set_logger(oauthmail_client *c, void *logger, void *user_data, uint32_t max_level) {
    (void)logger; (void)user_data; (void)max_level;
    return c ? 0 : 1;
}
uint32_t oauthmail_authorize(oauthmail_client *c, const char *o, char **out) { (void)c; (void)o; return fail(out); }
uint32_t oauthmail_refresh(oauthmail_client *c, const char *t, char **out) { (void)c; (void)t; return fail(out); }
uint32_t oauthmail_send(oauthmail_client *c, const char *t, const char *m, char **out) { (void)c; (void)t; (void)m; return fail(out); }
uint32_t oauthmail_revoke(oauthmail_client *c, const char *t, char **out) { (void)c; (void)t; return fail(out); }
void oauthmail_cancel(oauthmail_client *c) { (void)c; }
void oauthmail_string_free(char *s) { (void)s; }
