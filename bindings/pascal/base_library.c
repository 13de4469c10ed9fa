/* A liboauthmail with only the functions OAuthMail.pas requires (the first 0.1.0 API), for
   test_oauthmail's "older" mode: the unit must load it, and the optional functions it lacks
   (oauthmail_check, oauthmail_client_set_progress, oauthmail_store_list, oauthmail_store_remove)
   must raise EOAuthMailNotInstalled naming the function and this version when called.
   Every call that needs a provider answers "internal"; nothing here is a real client. */
#include <stddef.h>
#include <stdint.h>

static int handle;
static char error_doc[] = "{\"error\": {\"status\": \"internal\", \"code\": 14, \"message\": \"base_library stub\", \"hint\": \"\"}}";

const char *oauthmail_version(void) { return "0.1.0"; }
const char *oauthmail_status_name(uint32_t s) { return s == 0 ? "ok" : "internal"; }
uint32_t oauthmail_client_new(const char *c, void **out, char **json) { (void)c; *out = &handle; if (json) *json = NULL; return 0; }
void oauthmail_client_free(void *c) { (void)c; }
uint32_t oauthmail_client_set_url_opener(void *c, void *f, void *u) { (void)c; (void)f; (void)u; return 0; }
uint32_t oauthmail_client_set_logger(void *c, void *f, void *u, uint32_t l) { (void)c; (void)f; (void)u; (void)l; return 0; }
static uint32_t fail(char **json) { if (json) *json = error_doc; return 14; }
uint32_t oauthmail_authorize(void *c, const char *o, char **json) { (void)c; (void)o; return fail(json); }
uint32_t oauthmail_refresh(void *c, const char *t, char **json) { (void)c; (void)t; return fail(json); }
uint32_t oauthmail_send(void *c, const char *t, const char *m, char **json) { (void)c; (void)t; (void)m; return fail(json); }
uint32_t oauthmail_revoke(void *c, const char *t, char **json) { (void)c; (void)t; return fail(json); }
void oauthmail_cancel(void *c) { (void)c; }
void oauthmail_string_free(char *s) { (void)s; /* error_doc is static */ }
