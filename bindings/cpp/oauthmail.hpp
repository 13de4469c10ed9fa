// oauthmail.hpp: a header-only C++17 wrapper over the C API of liboauthmail (include/oauthmail.h).
//
//   #include "oauthmail.hpp"
//   oauthmail::Client client(config_json);                 // throws oauthmail::Error
//   std::string token = client.authorize(R"({"login_hint": "office@firma.ro"})");
//   std::string result = client.send(token, message_json);
//
// Strings are std::string holding UTF-8; documents are JSON text in and out (see API.md).
// oauthmail::json::quote and oauthmail::json::get_string are small helpers for building and reading
// them without a JSON library. Every string the library returns is released with
// oauthmail_string_free (never free/delete). A failed call throws oauthmail::Error with the status
// code, its name and the error document.
//
// Threads: a Client may be used from several threads at once; cancel() may be called from any
// thread. Callbacks (url opener, logger) may run on a thread the library created; exceptions they
// throw are caught before they reach the library. Link with -loauthmail (oauthmail.dll.lib /
// liboauthmail.dll.a on Windows).
#ifndef OAUTHMAIL_HPP
#define OAUTHMAIL_HPP

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "oauthmail.h"

namespace oauthmail {

/// The library's version at run time ("0.1.0"); compare with OAUTHMAIL_VERSION_STRING.
inline std::string version() { return oauthmail_version(); }

/// The lowercase name of a status code ("invalid_argument"); "unknown" for unknown values.
inline std::string status_name(oauthmail_status status) { return oauthmail_status_name(status); }

/// Minimal JSON helpers: enough to build message documents and read fields of results.
namespace json {

/// `s` as a JSON string literal, quotes included. `s` is UTF-8; non-ASCII bytes pass unchanged.
inline std::string quote(const std::string& s) {
    static const char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(s.size() + 2);
    out += '"';
    for (unsigned char c : s) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (c < 0x20) {
                out += "\\u00";
                out += hex[c >> 4];
                out += hex[c & 15];
            } else {
                out += static_cast<char>(c);
            }
        }
    }
    out += '"';
    return out;
}

namespace detail {
inline void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

inline bool hex4(const std::string& s, size_t i, uint32_t& v) {
    if (i + 4 > s.size()) return false;
    v = 0;
    for (size_t k = i; k < i + 4; ++k) {
        char c = s[k];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= static_cast<uint32_t>(c - '0');
        else if (c >= 'a' && c <= 'f') v |= static_cast<uint32_t>(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= static_cast<uint32_t>(c - 'A' + 10);
        else return false;
    }
    return true;
}

// Decodes the JSON string starting at doc[i] == '"'; on return i is past the closing quote.
inline bool read_string(const std::string& doc, size_t& i, std::string& out) {
    out.clear();
    for (++i; i < doc.size(); ++i) {
        char c = doc[i];
        if (c == '"') { ++i; return true; }
        if (c != '\\') { out += c; continue; }
        if (++i >= doc.size()) return false;
        switch (doc[i]) {
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'u': {
            uint32_t cp;
            if (!hex4(doc, i + 1, cp)) return false;
            i += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && i + 6 < doc.size() && doc[i + 1] == '\\' && doc[i + 2] == 'u') {
                uint32_t lo;
                if (hex4(doc, i + 3, lo) && lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    i += 6;
                }
            }
            append_utf8(out, cp);
            break;
        }
        default: out += doc[i];  // \" \\ \/
        }
    }
    return false;
}
}  // namespace detail

/// The string value of the first member named `key` anywhere in `doc` (keys inside string values
/// are never matched), or `fallback` when there is none or it is not a string. Meant for the
/// flat documents this library returns ("email", "message_id", "field", ...).
inline std::string get_string(const std::string& doc, const std::string& key, const std::string& fallback = {}) {
    size_t i = 0;
    std::string s;
    while (i < doc.size()) {
        if (doc[i] != '"') { ++i; continue; }
        if (!detail::read_string(doc, i, s)) return fallback;
        size_t j = i;
        while (j < doc.size() && (doc[j] == ' ' || doc[j] == '\n' || doc[j] == '\r' || doc[j] == '\t')) ++j;
        if (j < doc.size() && doc[j] == ':' && s == key) {
            ++j;
            while (j < doc.size() && (doc[j] == ' ' || doc[j] == '\n' || doc[j] == '\r' || doc[j] == '\t')) ++j;
            std::string value;
            if (j < doc.size() && doc[j] == '"' && detail::read_string(doc, j, value)) return value;
            return fallback;
        }
    }
    return fallback;
}

}  // namespace json

/// A failed call: the status code, its name and the library's error document (JSON text).
class Error : public std::runtime_error {
public:
    Error(oauthmail_status status, std::string document)
        : std::runtime_error(describe(status, document)), status_(status), document_(std::move(document)) {}

    oauthmail_status status() const noexcept { return status_; }
    std::string name() const { return status_name(status_); }
    /// The error document: {"error": {"status", "code", "message", "hint", "field"?, ...}}.
    const std::string& document() const noexcept { return document_; }
    std::string message() const { return json::get_string(document_, "message"); }
    std::string hint() const { return json::get_string(document_, "hint"); }
    /// The input the error is about ("config.client_id", "message.to[1]"), or "".
    std::string field() const { return json::get_string(document_, "field"); }

private:
    static std::string describe(oauthmail_status status, const std::string& doc) {
        std::string text = status_name(status) + " (" + std::to_string(status) + "): " +
                           json::get_string(doc, "message", "no details");
        std::string field = json::get_string(doc, "field");
        if (!field.empty()) text += " [field " + field + "]";
        return text;
    }
    oauthmail_status status_;
    std::string document_;
};

/// Opens the authorization URL; return true when it was opened (false declines: CANCELLED).
using UrlOpener = std::function<bool(const std::string& url)>;
/// Receives a log line: level 1 = error .. 5 = trace. Never contains a secret.
using Logger = std::function<void(uint32_t level, const std::string& message)>;

namespace detail {
struct StringFree {
    void operator()(char* p) const noexcept { oauthmail_string_free(p); }
};
using OwnedString = std::unique_ptr<char, StringFree>;

inline std::string take(char* p) {
    OwnedString owned(p);  // released on every path, by the library's own free function
    return owned ? std::string(owned.get()) : std::string();
}

inline Error argument_error(const std::string& field, const std::string& message) {
    return Error(OAUTHMAIL_INVALID_ARGUMENT,
                 "{\"error\": {\"status\": \"invalid_argument\", \"code\": 1, \"message\": " + json::quote(message) +
                     ", \"hint\": \"Correct the input named in 'field' and call again.\", \"field\": " +
                     json::quote(field) + "}}");
}

// C strings end at the first NUL: refuse a document with one rather than send it truncated.
inline const char* c_str(const std::string& s, const char* field) {
    if (s.find('\0') != std::string::npos) throw argument_error(field, std::string(field) + " contains a NUL character");
    return s.c_str();
}

// Takes ownership of `out`; returns it as a string on success, throws it as an Error otherwise.
inline std::string finish(oauthmail_status status, char* out) {
    std::string text = take(out);
    if (status != OAUTHMAIL_OK) throw Error(status, std::move(text));
    return text;
}

inline int32_t url_opener_trampoline(void* user_data, const char* url) noexcept {
    try {
        return (*static_cast<const UrlOpener*>(user_data))(url) ? 0 : 1;
    } catch (...) {
        return 1;  // never let an exception unwind into the library
    }
}

inline void logger_trampoline(void* user_data, uint32_t level, const char* message) noexcept {
    try {
        (*static_cast<const Logger*>(user_data))(level, message);
    } catch (...) {
    }
}

struct ClientFree {
    void operator()(oauthmail_client* c) const noexcept { oauthmail_client_free(c); }
};
}  // namespace detail

/// One configuration, its connections and callbacks. Move-only; the destructor frees the handle
/// (no other thread may then be inside a call on it).
class Client {
public:
    /// config_json: the client configuration (API.md). Throws Error (INVALID_ARGUMENT + field).
    explicit Client(const std::string& config_json) : callbacks_(std::make_unique<Callbacks>()) {
        oauthmail_client* raw = nullptr;
        char* out = nullptr;
        oauthmail_status status = oauthmail_client_new(detail::c_str(config_json, "config"), &raw, &out);
        detail::finish(status, out);
        handle_.reset(raw);
    }

    Client(Client&&) noexcept = default;
    Client& operator=(Client&& other) noexcept {
        if (this != &other) {
            handle_.reset();  // free the old handle before the callbacks it points to
            callbacks_ = std::move(other.callbacks_);
            handle_ = std::move(other.handle_);
        }
        return *this;
    }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;
    // Members are destroyed in reverse order: the handle first, then the callbacks it points to.
    ~Client() = default;

    /// Interactive authorization; returns the token document (JSON; it holds secrets).
    /// options_json may be empty (no options) or e.g. {"login_hint": "...", "open_browser": true}.
    std::string authorize(const std::string& options_json = std::string()) {
        char* out = nullptr;
        oauthmail_status status = oauthmail_authorize(
            h(), options_json.empty() ? nullptr : detail::c_str(options_json, "options"), &out);
        return detail::finish(status, out);
    }

    std::string refresh(const std::string& token_json) {
        char* out = nullptr;
        oauthmail_status status = oauthmail_refresh(h(), detail::c_str(token_json, "token"), &out);
        return detail::finish(status, out);
    }

    /// Sends one message; the result may carry a refreshed "token" to store.
    std::string send(const std::string& token_json, const std::string& message_json) {
        char* out = nullptr;
        oauthmail_status status =
            oauthmail_send(h(), detail::c_str(token_json, "token"), detail::c_str(message_json, "message"), &out);
        return detail::finish(status, out);
    }

    std::string revoke(const std::string& token_json) {
        char* out = nullptr;
        oauthmail_status status = oauthmail_revoke(h(), detail::c_str(token_json, "token"), &out);
        return detail::finish(status, out);
    }

    /// Makes the calls in flight on this client fail with CANCELLED. Safe from any thread.
    void cancel() noexcept { oauthmail_cancel(handle_.get()); }

    /// Replaces the system browser with `opener` (called on the authorizing thread, before the
    /// library waits for the redirect: return promptly). An empty function restores the browser.
    void set_url_opener(UrlOpener opener) {
        if (!opener) {
            detail::finish(oauthmail_client_set_url_opener(h(), nullptr, nullptr), nullptr);
            return;
        }
        const UrlOpener* kept = callbacks_->keep(std::move(opener));
        detail::finish(oauthmail_client_set_url_opener(h(), &detail::url_opener_trampoline, const_cast<UrlOpener*>(kept)),
                      nullptr);
    }

    /// Log lines of level <= max_level go to `logger`, possibly on other threads. An empty
    /// function turns logging off.
    void set_logger(Logger logger, uint32_t max_level = 3) {
        if (!logger) {
            detail::finish(oauthmail_client_set_logger(h(), nullptr, nullptr, 0), nullptr);
            return;
        }
        const Logger* kept = callbacks_->keep(std::move(logger));
        detail::finish(
            oauthmail_client_set_logger(h(), &detail::logger_trampoline, const_cast<Logger*>(kept), max_level),
            nullptr);
    }

    /// The C handle, for calls this wrapper does not cover. Still owned by this object.
    oauthmail_client* native_handle() const noexcept { return handle_.get(); }

private:
    // Every callback ever registered stays alive (at a stable address) until the client is
    // destroyed: a logger call may still be running on another thread when it is replaced.
    struct Callbacks {
        std::mutex lock;
        std::vector<std::unique_ptr<UrlOpener>> openers;
        std::vector<std::unique_ptr<Logger>> loggers;
        const UrlOpener* keep(UrlOpener f) {
            std::lock_guard<std::mutex> g(lock);
            openers.push_back(std::make_unique<UrlOpener>(std::move(f)));
            return openers.back().get();
        }
        const Logger* keep(Logger f) {
            std::lock_guard<std::mutex> g(lock);
            loggers.push_back(std::make_unique<Logger>(std::move(f)));
            return loggers.back().get();
        }
    };

    oauthmail_client* h() const {
        if (!handle_) throw detail::argument_error("client", "the client was moved from");
        return handle_.get();
    }

    std::unique_ptr<Callbacks> callbacks_;  // declared first: destroyed after the handle
    std::unique_ptr<oauthmail_client, detail::ClientFree> handle_;
};

}  // namespace oauthmail

#endif  // OAUTHMAIL_HPP
