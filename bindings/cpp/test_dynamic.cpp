// OAUTHMAIL_DYNAMIC: a missing file and a too old library throw oauthmail::NotInstalled with the
// path and the version found; then the real library loads (argv[1]: the old library, argv[2]:
// the real one) and a call works. Built without -loauthmail.
#define OAUTHMAIL_DYNAMIC
#include <iostream>

#include "oauthmail.hpp"

static int failures = 0;
#define CHECK(c) do { if (!(c)) { ++failures; std::cerr << "  CHECK FAILED line " << __LINE__ << ": " #c "\n"; } } while (0)

int main(int argc, char** argv) {
    if (argc != 3) return 2;
    try {
        oauthmail::load("/nonexistent/dir/liboauthmail.so");
        CHECK(false);
    } catch (const oauthmail::NotInstalled& e) {
        CHECK(e.searched().size() == 1 && e.searched()[0].find("/nonexistent/dir/liboauthmail.so") == 0);
        CHECK(e.version_found().empty());
        CHECK(std::string(e.what()).find("not installed") != std::string::npos);
    }
    try {
        oauthmail::load(argv[1]);
        CHECK(false);
    } catch (const oauthmail::NotInstalled& e) {
        CHECK(e.version_found() == "0.0.9");
        CHECK(e.searched().size() == 1 && e.searched()[0].find("oauthmail_client_new") != std::string::npos);
    }
    oauthmail::load(argv[2]);
    CHECK(oauthmail::library_path() == argv[2]);
    CHECK(oauthmail::version() == OAUTHMAIL_VERSION_STRING);
    try {
        oauthmail::Client c(R"({"provider": "google", "client_id": ""})");
        CHECK(false);
    } catch (const oauthmail::InvalidArgument& e) {
        CHECK(e.field() == "config.client_id");
    }
    std::cout << "cpp dynamic: " << (failures ? "FAILED" : "ok") << std::endl;
    return failures ? 1 : 0;
}
