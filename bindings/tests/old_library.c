/* An "old" liboauthmail for the bindings' tests: it exports only oauthmail_version, as a version
   older than every binding needs, so loading it must fail with the version found. */
const char *oauthmail_version(void) { return "0.0.9"; }
