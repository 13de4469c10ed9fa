// Tests of the C++ wrapper. `test basic` runs the tests that need only the library; `test` also
// runs those against the local Google stand-in (--auto-approve), configured by the environment:
// OAUTHMAIL_TEST_CONFIG (client configuration file), OAUTHMAIL_TEST_USER (a test user's email),
// OAUTHMAIL_TEST_CA (the stand-in's CA file); the feature tests (check, progress, the token store,
// a service account, Microsoft 365) also OAUTHMAIL_TEST_CONTROL, OAUTHMAIL_TEST_MAILBOX,
// OAUTHMAIL_TEST_CONFIG_STORE, OAUTHMAIL_TEST_CONFIG_SA, OAUTHMAIL_TEST_SA_SUBJECT,
// OAUTHMAIL_TEST_CONFIG_MS_GRAPH, OAUTHMAIL_TEST_CONFIG_MS_SMTP and OAUTHMAIL_TEST_MS_USER (a
// missing one fails). scripts/test.d/50-bindings.sh sets them all.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

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

    run("TokenRef, Config::to_json, CheckResult::parse, StoredAccount::parse_list, json::members", [] {
        CHECK(oauthmail::TokenRef::account("office@firma.ro") == R"({"account": "office@firma.ro"})");
        CHECK(oauthmail::TokenRef::subject("a\"b@x.ro") == R"({"subject": "a\"b@x.ro"})");
        oauthmail::Config cfg;
        cfg.service_account_file = "C:\\chei\\cont ș.json";
        cfg.transport = "smtp";
        cfg.store_path = "/srv/tokens.json";
        cfg.store_protect = "none";
        cfg.extra = {R"("timeouts": {"io_s": 60})"};
        CHECK(cfg.to_json() == R"({"provider": "google", "service_account_file": "C:\\chei\\cont ș.json", "transport": "smtp", )"
                               R"("store": {"path": "/srv/tokens.json", "protect": "none"}, "timeouts": {"io_s": 60}})");
        oauthmail::Config plain;
        plain.client_id = "id";
        CHECK(plain.to_json() == R"({"provider": "google", "client_id": "id"})");
        // serde_json orders keys: "error" comes before the step's own "ok"; nested keys must not match.
        auto r = oauthmail::CheckResult::parse(
            R"({"ok":false,"steps":[{"detail":"d1","ms":3,"ok":true,"step":"config","target":"google"},)"
            R"({"detail":"","error":{"code":8,"hint":"h ș","hint_id":"network","message":"m","ok":true,"step":"x","status":"network"},)"
            R"("ms":12,"ok":false,"step":"tcp","target":"127.0.0.1:1"}]})");
        CHECK(!r.ok && r.steps.size() == 2);
        CHECK(r.steps.size() == 2 && r.steps[0].ok && r.steps[0].step == "config" && r.steps[0].ms == 3 && !r.steps[0].error);
        const oauthmail::CheckStep* f = r.failed();
        CHECK(f && f->step == "tcp" && !f->ok && f->ms == 12 && f->target == "127.0.0.1:1" && f->error);
        CHECK(f && f->error && f->error->status() == OAUTHMAIL_NETWORK && f->error->hint() == "h ș" &&
              f->error->hint_id() == "network" && f->error->code() == oauthmail::errc::network);
        auto ok = oauthmail::CheckResult::parse(R"({"ok": true, "steps": [{"step": "config", "target": "", "ok": true, "ms": 0, "detail": ""}]})");
        CHECK(ok.ok && ok.failed() == nullptr && ok.steps.size() == 1);
        auto list = oauthmail::StoredAccount::parse_list(
            R"({"accounts":[{"account":"a@x.ro","authorized_at":1764000000,"expires_at":null,"provider":"google","refreshed_at":-1,"scope":"s"},)"
            R"({"account":"b@x.ro","provider":"microsoft","scope":"","authorized_at":null,"expires_at":1,"refreshed_at":null}]})");
        CHECK(list.size() == 2);
        if (list.size() == 2) {
            CHECK(list[0].account == "a@x.ro" && list[0].provider == "google" && list[0].scope == "s");
            CHECK(list[0].authorized_at == 1764000000 && !list[0].expires_at && list[0].refreshed_at == -1);
            CHECK(list[1].account == "b@x.ro" && !list[1].authorized_at && list[1].expires_at == 1);
        }
        CHECK(oauthmail::StoredAccount::parse_list(R"({"accounts":[]})").empty());
        auto m = oauthmail::json::members(R"( {"a" : [1, "]"], "b":{"c":2} ,"d":"x"} )");
        CHECK(m.size() == 3 && m[0].second == R"([1, "]"])" && m[1].second == R"({"c":2})" && m[2].second == R"("x")");
        CHECK(oauthmail::json::member(R"({"b": {"a": 1}, "a": 2})", "a") == "2");
        CHECK(oauthmail::json::elements(R"([ {"a": 1}, 2 ,"x"])").size() == 3);
        CHECK(oauthmail::json::as_int("12x") == std::nullopt && oauthmail::json::as_int("null") == std::nullopt);
    });

    run("store calls without a store and check with a bad token throw InvalidArgument", [] {
        oauthmail::Client c(kGoodConfig);
        CHECK(expect_error([&] { c.store_list(); }).field() == "config.store");
        CHECK(expect_error([&] { c.store_remove("office@firma.ro"); }).field() == "config.store");
        CHECK(expect_error([&] { c.check("{not json"); }).field() == "token");
        c.set_progress([](uint64_t, uint64_t) { return true; });
        c.set_progress(nullptr);
        oauthmail::Client moved(std::move(c));
        CHECK(expect_error([&] { c.check(); }).field() == "client");
        CHECK(expect_error([&] { c.set_progress([](uint64_t, uint64_t) { return true; }); }).field() == "client");
        CHECK(c.progress_error() == nullptr);
    });

    run("a callback's exception is the cause and is nested (std::rethrow_if_nested)", [] {
        std::exception_ptr cause = std::make_exception_ptr(std::runtime_error("bara de progres"));
        try {
            oauthmail::throw_error(OAUTHMAIL_CANCELLED, "{}", cause);
        } catch (const oauthmail::Cancelled& e) {
            CHECK(e.cause() == cause);
            try {
                std::rethrow_if_nested(e);
                CHECK(false);
            } catch (const std::runtime_error& inner) {
                CHECK(std::string(inner.what()) == "bara de progres");
            }
        }
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

// ---- check, progress, the token store, a service account, Microsoft 365 (issues 12, 15, 16, 18) ----

// Runs a shell command and returns what it printed (the stand-in's control plane and mailbox are
// read with curl and python3, as the other binding tests do).
std::string sh(const std::string& cmd) {
    std::string out;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) throw std::runtime_error("popen failed: " + cmd);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    if (pclose(p) != 0) throw std::runtime_error("command failed: " + cmd + "\n" + out);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
}

std::string shq(const std::string& s) {  // a single-quoted shell word
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

struct Features {
    Standin s;
    std::string control, mailbox, store_config, sa_config, sa_subject, ms_graph, ms_smtp, ms_user;
};

size_t mailbox_count(const Features& f) {
    return std::stoul(sh("curl -s --max-time 20 " + shq(f.control + "/mailbox") +
                         " | python3 -c 'import json,sys; print(len(json.load(sys.stdin)[\"messages\"]))'"));
}

// "ACCOUNT\nSUBJECT\nTEXT\nENVELOPE_TO" of the stored message with this Message-ID (waits up to
// 10 s), or "" when there is none. Decoded with Python's email package (RFC 2047, transfer encodings).
std::string delivered(const Features& f, const std::string& message_id) {
    static const char* script =
        "import email, email.policy, glob, json, os, sys, time\n"
        "end = time.monotonic() + 10\n"
        "while True:\n"
        "    for p in sorted(glob.glob(os.path.join(sys.argv[1], '*.eml'))):\n"
        "        if p.endswith('.delivered.eml'): continue\n"
        "        m = email.message_from_binary_file(open(p, 'rb'), policy=email.policy.default)\n"
        "        if str(m.get('Message-ID', '')).strip() == sys.argv[2]:\n"
        "            side = json.load(open(p[:-4] + '.json', encoding='utf-8'))\n"
        "            b = m.get_body(preferencelist=('plain',))\n"
        "            sys.stdout.buffer.write('\\n'.join([side['account'], str(m['Subject']), (b.get_content() if b else '').strip(),\n"
        "                ' '.join(side['envelope']['to']), 'bcc-header' if m['Bcc'] is not None else 'no-bcc-header']).encode())\n"
        "            sys.exit(0)\n"
        "    if time.monotonic() > end: sys.exit(0)\n"
        "    time.sleep(0.2)\n";
    return sh("python3 -c " + shq(script) + " " + shq(f.mailbox) + " " + shq(message_id));
}

const std::string kDiacritics = "ă â î ș ț Ă Â Î Ș Ț";

oauthmail::Message message(const std::string& from, const std::string& tag) {
    oauthmail::Message m;
    m.from = from;
    m.to = {"ion@example.ro"};
    m.subject = "[cpp " + tag + "] " + kDiacritics;
    m.text = "Bună ziua: " + kDiacritics;
    return m;
}

// A client whose url opener "browses" headlessly; browsers are joined when it goes.
struct Headless {
    std::vector<std::thread> browsers;
    std::mutex m;
    oauthmail::Client c;
    Headless(const std::string& config, const std::string& ca) : c(config) {
        c.set_url_opener([this, ca](const std::string& url) {
            std::lock_guard<std::mutex> g(m);
            browsers.emplace_back(follow, url, ca);
            return true;
        });
    }
    ~Headless() {
        for (auto& b : browsers) b.join();
    }
    std::string authorize(const std::string& who) { return c.authorize(oauthmail::AuthorizeOptions{who}); }
};

std::string big_file(size_t size) {
    std::string path = "/tmp/oauthmail-cpp-" + std::to_string(::getpid()) + "-mare.bin";
    std::ofstream out(path, std::ios::binary);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < size; ++i) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out.put(static_cast<char>(x & 0xff));
    }
    return path;
}

void feature_tests(const Features& f) {
    const Standin& s = f.s;

    run("check: healthy without and with a token, nothing delivered", [&] {
        Headless h(s.config, s.ca);
        size_t before = mailbox_count(f);
        oauthmail::CheckResult r = h.c.check();
        CHECK(r.ok && r.failed() == nullptr && !r.steps.empty());
        if (!r.ok) std::cerr << "  " << r.json << "\n";
        std::set<std::string> names;
        for (const auto& st : r.steps) names.insert(st.step);
        CHECK(!r.steps.empty() && r.steps[0].step == "config");
        CHECK(names.count("dns") && names.count("tcp") && names.count("tls") && names.count("client") && !names.count("refresh"));
        std::string token = h.authorize(s.user);
        r = h.c.check(token);
        CHECK(r.ok);
        names.clear();
        for (const auto& st : r.steps) names.insert(st.step);
        CHECK(names.count("refresh") && names.count("scopes") && names.count("gmail_api"));
        CHECK(r.json.find(oauthmail::json::get_string(token, "refresh_token")) == std::string::npos);
        CHECK(mailbox_count(f) == before);
        h.c.revoke(token);
    });

    run("check: a failed step is a result with the error, its hint and hint_id", [&] {
        std::string config = s.config;
        std::string tok = oauthmail::json::get_string(config, "token");
        size_t at = config.find("\"" + tok + "\"");
        CHECK(!tok.empty() && at != std::string::npos);
        config.replace(at, tok.size() + 2, "\"https://127.0.0.1:1/token\"");  // nothing listens there
        oauthmail::Client c(config);
        oauthmail::CheckResult r = c.check();
        const oauthmail::CheckStep* failed = r.failed();
        CHECK(!r.ok && failed && failed == &r.steps.back());
        CHECK(failed && failed->step == "tcp" && failed->error);
        CHECK(failed && failed->error && failed->error->status() == OAUTHMAIL_NETWORK && !failed->error->hint().empty() &&
              !failed->error->hint_id().empty());
    });

    run("check: cancel() from another thread ends it with Cancelled", [&] {
        oauthmail::Client c(s.config);
        sh("curl -s --max-time 20 -X POST -H 'Content-Type: application/json' -d " +
           shq(R"({"endpoint": "token", "kind": "delay", "delay_ms": 8000, "count": 1})") + " " + shq(f.control + "/faults"));
        std::atomic<uint32_t> status{0};
        std::atomic<bool> reported{false};
        std::thread worker([&] {
            try {
                c.check();
                reported = true;
            } catch (const oauthmail::Error& e) {
                status = e.status();
            }
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(1000));
        auto t0 = std::chrono::steady_clock::now();
        c.cancel();
        worker.join();  // bounded: the delay fault answers after 8 s at the latest
        sh("curl -s --max-time 20 -X DELETE " + shq(f.control + "/faults"));
        CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
        CHECK(!reported && status == OAUTHMAIL_CANCELLED);
    });

    run("check: with account/subject references (KNOWN LIBRARY GAP: refused as 'token is invalid')", [&] {
        // oauthmail_check parses only a token document (src/ffi/mod.rs); issues 12/16/18 ask for
        // references too. Reported; when the library accepts them this check fails: then expect a report.
        oauthmail::Client sa(f.sa_config);
        auto e = expect_error([&] { sa.check(oauthmail::TokenRef::subject(f.sa_subject)); });
        CHECK(e.status() == OAUTHMAIL_INVALID_ARGUMENT && e.field() == "token");
    });

    run("progress: monotonic, on the sending thread, ends at the total", [&] {
        Headless h(s.config, s.ca);
        std::string token = h.authorize(s.user);
        std::vector<std::pair<uint64_t, uint64_t>> seen;
        std::set<std::thread::id> threads;
        h.c.set_progress([&](uint64_t done, uint64_t total) {
            seen.emplace_back(done, total);
            threads.insert(std::this_thread::get_id());
            return true;
        });
        const size_t size = 400 * 1024;
        std::string path = big_file(size);
        oauthmail::Message m = message(s.user, "progres");
        m.attach(path, "mare.bin");
        oauthmail::SendResult r = h.c.send(token, m);
        std::remove(path.c_str());
        CHECK(!delivered(f, r.message_id).empty());
        CHECK(seen.size() >= 2);
        if (seen.size() >= 2) {
            uint64_t total = seen[0].second;
            CHECK(total > size);
            bool same = true, monotonic = true;
            for (size_t i = 0; i < seen.size(); ++i) {
                same = same && seen[i].second == total;
                monotonic = monotonic && (i == 0 || seen[i].first >= seen[i - 1].first);
            }
            CHECK(same && monotonic);
            CHECK(seen.back().first == total && seen.back().second == total);
        }
        CHECK(threads.size() == 1 && threads.count(std::this_thread::get_id()) == 1);
        CHECK(h.c.progress_error() == nullptr);
    });

    run("progress: returning false cancels, nothing delivered", [&] {
        Headless h(s.config, s.ca);
        std::string token = h.authorize(s.user);
        int calls = 0;
        h.c.set_progress([&](uint64_t, uint64_t) { return ++calls, false; });
        std::string path = big_file(300 * 1024);
        oauthmail::Message m = message(s.user, "anulat");
        m.attach(path);
        size_t before = mailbox_count(f);
        auto e = expect_error([&] { h.c.send(token, m); });
        std::remove(path.c_str());
        CHECK(e.status() == OAUTHMAIL_CANCELLED && e.cause() == nullptr);
        CHECK(calls == 1);
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        CHECK(mailbox_count(f) == before);
    });

    run("progress: an exception cancels, send throws Cancelled with it as cause, nested", [&] {
        Headless h(s.config, s.ca);
        std::string token = h.authorize(s.user);
        h.c.set_progress([](uint64_t, uint64_t) -> bool { throw std::logic_error("bara de progres s-a stricat"); });
        std::string path = big_file(300 * 1024);
        oauthmail::Message m = message(s.user, "excepție");
        m.attach(path);
        size_t before = mailbox_count(f);
        bool caught = false;
        try {
            h.c.send(token, m);
        } catch (const oauthmail::Cancelled& e) {
            caught = true;
            CHECK(e.cause() != nullptr);
            try {
                std::rethrow_if_nested(e);
                CHECK(false);
            } catch (const std::logic_error& inner) {
                CHECK(std::string(inner.what()) == "bara de progres s-a stricat");
            }
        }
        std::remove(path.c_str());
        CHECK(caught);
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        CHECK(mailbox_count(f) == before);
        h.c.set_progress(nullptr);  // the client still works
        CHECK(!delivered(f, h.c.send(token, message(s.user, "după")).message_id).empty());
    });

    run("progress: a throw in the last call comes too late; the send succeeds, progress_error() has it", [&] {
        Headless h(s.config, s.ca);
        std::string token = h.authorize(s.user);
        h.c.set_progress([](uint64_t done, uint64_t total) -> bool {
            if (done == total) throw std::runtime_error("după ultimul octet");
            return true;
        });
        oauthmail::SendResult r = h.c.send(token, message(s.user, "târziu"));
        CHECK(!delivered(f, r.message_id).empty());
        CHECK(h.c.progress_error() != nullptr);
    });

    run("token store: authorize, list, send and refresh through TokenRef::account, remove", [&] {
        const std::string me = "second.test@gmail.com";  // this binding's entry in the shared store
        Headless h(f.store_config, s.ca);
        int64_t started = static_cast<int64_t>(std::time(nullptr));
        std::string token = h.authorize(me);
        CHECK(oauthmail::json::get_string(token, "email") == me);
        const oauthmail::StoredAccount* mine = nullptr;
        auto list = h.c.store_list();
        for (const auto& a : list)
            if (a.account == me) mine = &a;
        CHECK(mine != nullptr);
        if (mine) {
            CHECK(mine->provider == "google" && mine->scope.find("gmail.send") != std::string::npos);
            CHECK(mine->authorized_at && *mine->authorized_at >= started - 5);
            CHECK(mine->expires_at && *mine->expires_at > started);
        }
        oauthmail::SendResult r = h.c.send(oauthmail::TokenRef::account(me), message(me, "cont"));
        CHECK(r.token.empty());
        std::string got = delivered(f, r.message_id);
        CHECK(got.rfind(me + "\n[cpp cont] " + kDiacritics + "\n", 0) == 0);
        std::string fresh = h.c.refresh(oauthmail::TokenRef::account(me));
        CHECK(oauthmail::json::get_string(fresh, "email") == me);
        CHECK(h.c.store_remove("SECOND.test@gmail.com"));  // without regard to ASCII case
        bool gone = true;
        for (const auto& a : h.c.store_list()) gone = gone && a.account != me;
        CHECK(gone);
        CHECK(!h.c.store_remove(me));
        auto e = expect_error([&] { h.c.send(oauthmail::TokenRef::account(me), message(me, "șters")); });
        CHECK(e.status() == OAUTHMAIL_INVALID_ARGUMENT && e.field() == "token.account");
        h.c.revoke(token);
    });

    run("service account: send as TokenRef::subject, authorize refused", [&] {
        oauthmail::Client c(f.sa_config);
        auto e = expect_error([&] { c.authorize(oauthmail::AuthorizeOptions{f.sa_subject}); });
        CHECK(e.status() == OAUTHMAIL_INVALID_ARGUMENT && e.field() == "config.service_account_file");
        oauthmail::SendResult r = c.send(oauthmail::TokenRef::subject(f.sa_subject), message(f.sa_subject, "cont de serviciu"));
        CHECK(r.token.empty());
        CHECK(delivered(f, r.message_id).rfind(f.sa_subject + "\n[cpp cont de serviciu] " + kDiacritics + "\n", 0) == 0);
        std::string t = c.refresh(oauthmail::TokenRef::subject(f.sa_subject));
        CHECK(!oauthmail::json::get_string(t, "access_token").empty() && oauthmail::json::get_raw(t, "refresh_token").empty());
    });

    for (const char* transport : {"graph", "smtp"}) {
        run((std::string("Microsoft 365 (") + transport + "): authorize, send, refresh rotates, revoke forgets").c_str(), [&] {
            const bool smtp = std::string(transport) == "smtp";
            Headless h(smtp ? f.ms_smtp : f.ms_graph, s.ca);
            std::string token = h.authorize(f.ms_user);
            CHECK(oauthmail::json::get_string(token, "provider") == "microsoft");
            CHECK(oauthmail::json::get_string(token, "email") == f.ms_user);
            oauthmail::Message m = message(f.ms_user, std::string("microsoft ") + transport);
            if (smtp) m.bcc = {"ascuns@example.ro"};  // Bcc through Graph needs Mail.ReadWrite (not in the default scopes)
            oauthmail::SendResult r = h.c.send(token, m);
            CHECK(r.transport == transport);
            std::string got = delivered(f, r.message_id);
            CHECK(got.rfind(f.ms_user + "\n[cpp microsoft " + transport + "] " + kDiacritics + "\nBună ziua: " + kDiacritics + "\n", 0) == 0);
            CHECK(got.size() > 14 && got.compare(got.size() - 14, 14, "\nno-bcc-header") == 0);
            if (smtp) CHECK(got.find("ascuns@example.ro") != std::string::npos);
            if (got.empty() || got.find(kDiacritics) == std::string::npos) std::cerr << "  delivered: " << got << "\n";
            std::string fresh = h.c.refresh(token);
            std::string old_rt = oauthmail::json::get_string(token, "refresh_token");
            CHECK(!old_rt.empty() && oauthmail::json::get_string(fresh, "refresh_token") != old_rt);
            bool reauthorize = false;
            try {
                h.c.refresh(token);
            } catch (const oauthmail::Reauthorize&) {
                reauthorize = true;
            }
            CHECK(reauthorize);
            std::string revoked = h.c.revoke(fresh);
            CHECK(oauthmail::json::member(revoked, "revoked") == "false" && oauthmail::json::member(revoked, "forgotten") == "true");
            CHECK(!oauthmail::json::get_string(revoked, "hint").empty());
        });
    }
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
        try {
            Features f{{read_file(env("OAUTHMAIL_TEST_CONFIG")), env("OAUTHMAIL_TEST_USER"), env("OAUTHMAIL_TEST_CA")},
                       env("OAUTHMAIL_TEST_CONTROL"), env("OAUTHMAIL_TEST_MAILBOX"),
                       read_file(env("OAUTHMAIL_TEST_CONFIG_STORE")), read_file(env("OAUTHMAIL_TEST_CONFIG_SA")),
                       env("OAUTHMAIL_TEST_SA_SUBJECT"), read_file(env("OAUTHMAIL_TEST_CONFIG_MS_GRAPH")),
                       read_file(env("OAUTHMAIL_TEST_CONFIG_MS_SMTP")), env("OAUTHMAIL_TEST_MS_USER")};
            feature_tests(f);
        } catch (const std::exception& e) {
            ++failures;
            std::cerr << "feature tests: " << e.what() << "\n";
        }
    }
    std::cout << "cpp: " << checks << " checks, " << failures << " failed" << std::endl;
    return failures == 0 ? 0 : 1;
}
