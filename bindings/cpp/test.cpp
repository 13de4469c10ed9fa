// Tests of the C++ wrapper. `test basic` runs the tests that need only the library; `test` also
// runs those against the local Google stand-in (--auto-approve), configured by the environment:
// OAUTHMAIL_TEST_CONFIG (client configuration file), OAUTHMAIL_TEST_USER (a test user's email),
// OAUTHMAIL_TEST_CA (the stand-in's CA file). scripts/test.d/50-bindings.sh sets them.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "oauthmail.hpp"

namespace {
int failures = 0;
int checks = 0;

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        ++checks;                                                                              \
        if (!(cond)) {                                                                         \
            ++failures;                                                                        \
            std::cerr << "  CHECK FAILED " << __FILE__ << ":" << __LINE__ << ": " #cond "\n"; \
        }                                                                                      \
    } while (0)

void run(const char* name, const std::function<void()>& test) {
    int before = failures;
    try {
        test();
    } catch (const oauthmail::Error& e) {
        ++failures;
        std::cerr << "  unexpected oauthmail::Error: " << e.what() << "\n";
    } catch (const std::exception& e) {
        ++failures;
        std::cerr << "  unexpected exception: " << e.what() << "\n";
    }
    std::cout << (failures == before ? "ok   " : "FAIL ") << name << std::endl;
}

template <class F>
oauthmail::Error expect_error(F f) {
    try {
        f();
    } catch (const oauthmail::Error& e) {
        return e;
    }
    throw std::runtime_error("expected an oauthmail::Error");
}

std::string env(const char* name) {
    const char* v = std::getenv(name);
    if (!v || !*v) throw std::runtime_error(std::string(name) + " is not set (run scripts/test.d/50-bindings.sh)");
    return v;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

const std::string kGoodConfig = R"({"provider": "google", "client_id": "id", "client_secret": "s"})";

void basic_tests() {
    run("version matches the header", [] { CHECK(oauthmail::version() == OAUTHMAIL_VERSION_STRING); });

    run("status names follow the contract", [] {
        const char* names[] = {"ok", "invalid_argument", "cancelled", "timeout", "access_denied",
                               "reauthorize", "insufficient_scope", "auth_failed", "network", "tls",
                               "rate_limited", "rejected", "provider", "io", "internal"};
        for (uint32_t i = 0; i < 15; ++i) CHECK(oauthmail::status_name(i) == names[i]);
        CHECK(oauthmail::status_name(4242) == "unknown");
    });

    run("empty client_id throws INVALID_ARGUMENT naming config.client_id", [] {
        auto e = expect_error([] { oauthmail::Client c(R"({"provider": "google", "client_id": "", "client_secret": "s"})"); });
        CHECK(e.status() == OAUTHMAIL_INVALID_ARGUMENT);
        CHECK(e.name() == "invalid_argument");
        CHECK(e.field() == "config.client_id");
        CHECK(oauthmail::json::get_string(e.document(), "status") == "invalid_argument");
        CHECK(e.document().find("\"code\":1") != std::string::npos);
        CHECK(!e.message().empty() && !e.hint().empty());
        CHECK(std::string(e.what()).find("config.client_id") != std::string::npos);
    });

    run("unknown field with diacritics comes back as UTF-8", [] {
        auto e = expect_error([] { oauthmail::Client c("{\"provider\": \"google\", \"client_id\": \"x\", \"câmp_ș\": 1}"); });
        CHECK(e.status() == OAUTHMAIL_INVALID_ARGUMENT);
        CHECK(e.field() == "config.câmp_ș");
    });

    run("NULL config is INVALID_ARGUMENT from the C API", [] {
        oauthmail_client* c = reinterpret_cast<oauthmail_client*>(1);
        char* out = nullptr;
        oauthmail_status st = oauthmail_client_new(nullptr, &c, &out);
        oauthmail::Error e(st, oauthmail::detail::take(out));
        CHECK(st == OAUTHMAIL_INVALID_ARGUMENT);
        CHECK(c == nullptr);
        CHECK(e.field() == "config");
    });

    run("invalid UTF-8 config is INVALID_ARGUMENT naming config", [] {
        auto e = expect_error([] { oauthmail::Client c("{\"provider\": \"google\", \"client_id\": \"\xff\"}"); });
        CHECK(e.status() == OAUTHMAIL_INVALID_ARGUMENT);
        CHECK(e.field() == "config");
        CHECK(e.message().find("UTF-8") != std::string::npos);
    });

    run("embedded NUL is refused, not truncated", [] {
        static const char raw[] = "{\"provider\": \"google\", \"client_id\": \"x\0\", \"client_secret\": \"s\"}";
        std::string with_nul(raw, sizeof raw - 1);
        CHECK(with_nul.size() > std::string(raw).size());
        auto e = expect_error([&] { oauthmail::Client c(with_nul); });
        CHECK(e.status() == OAUTHMAIL_INVALID_ARGUMENT);
        CHECK(e.field() == "config");
    });

    run("callbacks register and reset; moved-from client throws", [] {
        oauthmail::Client a(kGoodConfig);
        a.set_url_opener([](const std::string&) { return true; });
        a.set_logger([](uint32_t, const std::string&) {}, 5);
        a.set_url_opener(nullptr);
        a.set_logger(nullptr);
        a.cancel();  // nothing in flight: harmless
        oauthmail::Client b(std::move(a));
        b.set_logger([](uint32_t, const std::string&) {}, 5);
        auto e = expect_error([&] { a.refresh("{}"); });
        CHECK(e.field() == "client");
        a.cancel();  // on a moved-from client: a no-op (oauthmail_cancel(NULL))
        oauthmail::Client c(kGoodConfig);
        c = std::move(b);
        CHECK(c.native_handle() != nullptr);
    });

    run("each status throws its Error subclass; code() is a std::error_code", [] {
        try {
            oauthmail::Client c(R"({"provider": "google", "client_id": "", "client_secret": "s"})");
            CHECK(false);
        } catch (const oauthmail::InvalidArgument& e) {
            CHECK(e.field() == "config.client_id");
            CHECK(e.code() == oauthmail::errc::invalid_argument);
            CHECK(e.code() == std::errc::invalid_argument);  // the portable condition
            CHECK(std::string(e.code().category().name()) == "oauthmail");
            CHECK(e.code().message() == "invalid_argument");
            CHECK(e.hint_id() == oauthmail::json::get_string(e.document(), "hint_id"));
        }
        const char* doc = R"({"error": {"status": "reauthorize", "code": 5, "message": "m", "hint": "h", "hint_id": "reauthorize"}})";
        try {
            oauthmail::throw_error(OAUTHMAIL_REAUTHORIZE, doc);
        } catch (const oauthmail::Reauthorize& e) {
            CHECK(e.status() == OAUTHMAIL_REAUTHORIZE && e.hint_id() == "reauthorize" && e.name() == "reauthorize");
        }
        try {
            oauthmail::throw_error(OAUTHMAIL_NETWORK, "{}");
        } catch (const oauthmail::NetworkError& e) {
            CHECK(e.code() == oauthmail::errc::network);
        }
        try {
            oauthmail::throw_error(4242, "{}");  // a status added later: the base class
        } catch (const oauthmail::Reauthorize&) {
            CHECK(false);
        } catch (const oauthmail::Error& e) {
            CHECK(e.status() == 4242 && e.name() == "unknown");
        }
        std::error_code ec = oauthmail::errc::timeout;
        CHECK(ec == std::errc::timed_out);
    });

    run("Message::to_json, AuthorizeOptions, SendResult::parse, json::get_raw", [] {
        oauthmail::Message m;
        m.from = "a@b.ro";
        m.to = {"Ion \"Nelu\" Popescu <ion@example.ro>", ""};
        m.cc = {"c@d.ro"};
        m.subject = "ș\"\\";
        m.html = "<p>ț</p>";
        m.headers = {{"X-Document-Id", "123"}};
        m.attach("C:\\Facturi\\123.pdf").attach("/tmp/x.csv", "date ă.csv");
        CHECK(m.to_json() ==
              R"({"from": "a@b.ro", "to": ["Ion \"Nelu\" Popescu <ion@example.ro>"], "cc": ["c@d.ro"], "subject": "ș\"\\", )"
              R"("html": "<p>ț</p>", "attachments": [{"path": "C:\\Facturi\\123.pdf"}, {"path": "/tmp/x.csv", "filename": "date ă.csv"}], )"
              R"("headers": {"X-Document-Id": "123"}})");
        if (m.to_json().find("Nelu") == std::string::npos) std::cerr << m.to_json() << "\n";
        oauthmail::AuthorizeOptions o;
        o.login_hint = "x@y.ro";
        o.open_browser = false;
        CHECK(o.to_json() == R"({"login_hint": "x@y.ro", "open_browser": false})");
        auto r = oauthmail::SendResult::parse(
            R"({"message_id": "<1@x>", "transport": "gmail_api", "token": {"email": "e@x", "scope": "a \"}\" b", "expires_at": 1}})");
        CHECK(r.message_id == "<1@x>" && r.transport == "gmail_api" && r.provider_id.empty());
        CHECK(r.token == R"({"email": "e@x", "scope": "a \"}\" b", "expires_at": 1})");
        CHECK(oauthmail::SendResult::parse(R"({"message_id": "<2@x>"})").token.empty());
        CHECK(oauthmail::json::get_raw(R"({"a": [1, {"b": 2}], "c": 3})", "a") == R"([1, {"b": 2}])");
        CHECK(oauthmail::json::get_raw(R"({"a": [1, {"b": 2}], "c": 3})", "c") == "3");
        CHECK(oauthmail::json::get_raw(R"({"a": 1})", "z").empty());
    });

    run("json helpers quote and read back escapes and non-ASCII", [] {
        std::string s = "a\"b\\c\nd\x01 ș 📧";
        std::string doc = "{\"k\": " + oauthmail::json::quote(s) + ", \"u\": \"\\u0219\\ud83d\\udce7\", \"n\": 1}";
        CHECK(oauthmail::json::get_string(doc, "k") == s);
        CHECK(oauthmail::json::get_string(doc, "u") == "ș📧");
        CHECK(oauthmail::json::get_string(doc, "n", "none") == "none");
        CHECK(oauthmail::json::get_string("{\"a\": \"\\\"k\\\": \\\"x\\\"\"}", "k", "none") == "none");
    });
}

struct Standin {
    std::string config, user, ca;
};

// A headless "browser": curl follows the stand-in's redirect to the loopback listener.
void follow(const std::string& url, const std::string& ca) {
    std::string cmd = "curl -s -o /dev/null -L --max-time 20 --cacert '" + ca + "' '" + url + "'";
    (void)std::system(cmd.c_str());
}

void standin_tests(const Standin& s) {
    run("callbacks run off the main thread while authorize runs on a worker", [&] {
        oauthmail::Client c(s.config);
        const std::thread::id main_id = std::this_thread::get_id();
        std::mutex m;
        std::vector<std::thread::id> opener_threads;
        std::set<std::thread::id> logger_threads;
        std::vector<std::thread> browsers;
        c.set_url_opener([&](const std::string& url) {
            std::lock_guard<std::mutex> g(m);
            opener_threads.push_back(std::this_thread::get_id());
            browsers.emplace_back(follow, url, s.ca);
            return true;
        });
        c.set_logger([&](uint32_t, const std::string&) {
            std::lock_guard<std::mutex> g(m);
            logger_threads.insert(std::this_thread::get_id());
        }, 5);
        std::string token, error;
        std::thread worker([&] {
            try {
                token = c.authorize("{\"login_hint\": " + oauthmail::json::quote(s.user) + "}");
            } catch (const std::exception& e) {
                error = e.what();
            }
        });
        std::thread::id worker_id = worker.get_id();
        worker.join();
        for (auto& b : browsers) b.join();
        CHECK(error.empty());
        if (!error.empty()) std::cerr << "  authorize: " << error << "\n";
        CHECK(oauthmail::json::get_string(token, "email") == s.user);
        // Once, on the thread that called authorize (docs/API.md): the worker, never the main thread.
        CHECK(opener_threads.size() == 1 && opener_threads[0] == worker_id);
        CHECK(worker_id != main_id);
        CHECK(!logger_threads.empty());
        CHECK(logger_threads.count(main_id) == 0);
        std::string refreshed = c.refresh(token);
        CHECK(oauthmail::json::get_string(refreshed, "refresh_token") == oauthmail::json::get_string(token, "refresh_token"));
    });

    run("cancel from another thread ends a waiting authorize", [&] {
        oauthmail::Client c(s.config);
        std::mutex m;
        std::condition_variable cv;
        bool opened = false;
        c.set_url_opener([&](const std::string&) {  // "opens" the URL; nobody ever approves
            std::lock_guard<std::mutex> g(m);
            opened = true;
            cv.notify_all();
            return true;
        });
        std::atomic<uint32_t> status{0};
        std::thread worker([&] {
            try {
                c.authorize("{\"login_hint\": " + oauthmail::json::quote(s.user) + "}");
            } catch (const oauthmail::Error& e) {
                status = e.status();
            }
        });
        {
            std::unique_lock<std::mutex> g(m);
            CHECK(cv.wait_for(g, std::chrono::seconds(20), [&] { return opened; }));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        auto t0 = std::chrono::steady_clock::now();
        c.cancel();
        worker.join();  // bounded: authorize_s is 30 in the test configuration
        CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
        CHECK(status == OAUTHMAIL_CANCELLED);
    });

    run("a url opener that throws makes authorize throw Cancelled with the cause", [&] {
        oauthmail::Client c(s.config);
        c.set_url_opener([](const std::string&) -> bool { throw std::runtime_error("no browser here"); });
        try {
            c.authorize("{\"login_hint\": " + oauthmail::json::quote(s.user) + "}");
            CHECK(false);
        } catch (const oauthmail::Cancelled& e) {
            CHECK(e.name() == "cancelled");
            CHECK(e.cause() != nullptr);
            try {
                if (e.cause()) std::rethrow_exception(e.cause());
            } catch (const std::runtime_error& cause) {
                CHECK(std::string(cause.what()) == "no browser here");
            }
        }
    });

    run("a logger that throws is contained; typed authorize + send", [&] {
        oauthmail::Client c(s.config);
        std::vector<std::thread> browsers;
        c.set_url_opener([&](const std::string& url) {
            browsers.emplace_back(follow, url, s.ca);
            return true;
        });
        std::atomic<int> lines{0};
        c.set_logger([&](uint32_t, const std::string&) {
            ++lines;
            throw std::runtime_error("logger broke");
        }, 5);
        oauthmail::AuthorizeOptions o;
        o.login_hint = s.user;
        std::string token = c.authorize(o);
        for (auto& b : browsers) b.join();
        oauthmail::Message m;
        m.from = s.user;
        m.to = {"ion@example.ro"};
        m.subject = "jurnal stricat ș";
        m.text = "ț";
        oauthmail::SendResult r = c.send(token, m);
        CHECK(r.message_id.size() > 2 && r.message_id[0] == '<');
        CHECK(r.transport == "gmail_api");
        CHECK(lines > 1);
    });

    run("invalid recipient throws INVALID_ARGUMENT naming message.to[1]", [&] {
        oauthmail::Client c(s.config);
        std::vector<std::thread> browsers;
        c.set_url_opener([&](const std::string& url) {
            browsers.emplace_back(follow, url, s.ca);
            return true;
        });
        std::string token = c.authorize("{\"login_hint\": " + oauthmail::json::quote(s.user) + "}");
        for (auto& b : browsers) b.join();
        auto e = expect_error([&] {
            c.send(token, "{\"from\": " + oauthmail::json::quote(s.user) +
                              ", \"to\": [\"ion@example.ro\", \"not an address\"], \"subject\": \"x\", \"text\": \"y\"}");
        });
        CHECK(e.status() == OAUTHMAIL_INVALID_ARGUMENT);
        CHECK(e.field() == "message.to[1]");
    });
}
}  // namespace

int main(int argc, char** argv) {
    basic_tests();
    if (!(argc > 1 && std::string(argv[1]) == "basic")) {
        try {
            Standin s{read_file(env("OAUTHMAIL_TEST_CONFIG")), env("OAUTHMAIL_TEST_USER"), env("OAUTHMAIL_TEST_CA")};
            standin_tests(s);
        } catch (const std::exception& e) {
            ++failures;
            std::cerr << "stand-in tests: " << e.what() << "\n";
        }
    }
    std::cout << "cpp: " << checks << " checks, " << failures << " failed" << std::endl;
    return failures == 0 ? 0 : 1;
}
