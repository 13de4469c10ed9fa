// OAUTHMAIL_DYNAMIC: a missing file and a too old library throw oauthmail::NotInstalled with the
// path and the version found; then the real library loads (argv[1]: the old library, argv[2]:
// the real one) and calls work, the newer entry points (check, progress, the token store)
// included. `test_dynamic older PATH` loads a library that lacks only the newer entry points
// (bindings/cpp/older_library.c): it loads, and each newer call throws NotInstalled naming the
// function. Built without -loauthmail.
#define OAUTHMAIL_DYNAMIC
#include <cstdio>
#include <iostream>
#include <string>

#include <unistd.h>

#include "oauthmail.hpp"

static int failures = 0;
#define CHECK(c) do { if (!(c)) { ++failures; std::cerr << "  CHECK FAILED line " << __LINE__ << ": " #c "\n"; } } while (0)

static int older(const char* path) {
    oauthmail::load(path);
    CHECK(oauthmail::library_path() == path);
    oauthmail::Client c("{}");
    c.set_logger([](uint32_t, const std::string&) {}, 3);  // the older entry points work
    int thrown = 0;
    auto lacks = [&](const char* name, const std::function<void()>& call) {
        try {
            call();
            CHECK(false);
        } catch (const oauthmail::NotInstalled& e) {
            ++thrown;
            CHECK(std::string(e.what()).find(std::string("lacks ") + name) != std::string::npos);
            CHECK(e.version_found() == "0.1.0");
            CHECK(e.searched().size() == 1 && e.searched()[0].find(path) == 0);
        }
    };
    lacks("oauthmail_check", [&] { c.check(); });
    lacks("oauthmail_client_set_progress", [&] { c.set_progress([](uint64_t, uint64_t) { return true; }); });
    lacks("oauthmail_store_list", [&] { c.store_list(); });
    lacks("oauthmail_store_remove", [&] { c.store_remove("office@firma.ro"); });
    CHECK(thrown == 4);
    std::cout << "cpp dynamic (older library): " << (failures ? "FAILED" : "ok") << std::endl;
    return failures ? 1 : 0;
}

int main(int argc, char** argv) {
    if (argc == 3 && std::string(argv[1]) == "older") return older(argv[2]);
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
    // The newer entry points were resolved too.
    std::string store = "/tmp/oauthmail-cpp-dynamic-" + std::to_string(::getpid()) + ".json";
    oauthmail::Config cfg;
    cfg.client_id = "id";
    cfg.client_secret = "s";
    cfg.store_path = store;
    cfg.store_protect = "none";
    oauthmail::Client c(cfg);
    CHECK(c.store_list().empty());  // a store file that does not exist yet is an empty list
    CHECK(!c.store_remove("office@firma.ro"));
    c.set_progress([](uint64_t, uint64_t) { return true; });
    try {
        c.check("{not json");
        CHECK(false);
    } catch (const oauthmail::InvalidArgument& e) {
        CHECK(e.field() == "token");
    }
    std::remove(store.c_str());
    std::remove((store + ".lock").c_str());
    std::cout << "cpp dynamic: " << (failures ? "FAILED" : "ok") << std::endl;
    return failures ? 1 : 0;
}
