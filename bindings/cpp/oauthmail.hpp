// oauthmail.hpp: a header-only C++17 wrapper over the C API of liboauthmail (include/oauthmail.h).
//
//   #include "oauthmail.hpp"
//   oauthmail::Client client(config_json);                 // throws oauthmail::Error subclasses
//   std::string token = client.authorize(oauthmail::AuthorizeOptions{"office@firma.ro"});
//   oauthmail::Message msg;
//   msg.from = "office@firma.ro"; msg.to = {"ion@example.ro"}; msg.subject = "Factură"; msg.text = "Bună ziua";
//   oauthmail::SendResult r = client.send(token, msg);
//
// Strings are std::string holding UTF-8; documents are JSON text (docs/API.md in the repository):
// the token is a string the host stores as it is, Message builds the message document and
// SendResult reads the send result; json::quote / json::get_string / json::get_raw help with the
// rest. Every string the library returns is released with oauthmail_string_free (never
// free/delete).
//
// Errors: a failed call throws the subclass of oauthmail::Error for its status (Reauthorize,
// NetworkError, Timeout, ...), which carries the status, the error document, field(), hint() and
// hint_id(); Error::code() is a std::error_code in oauthmail::category() (errc values = status
// numbers), for code that prefers error codes.
//
// Linking: by default the program links the library (-loauthmail; oauthmail.dll.lib /
// liboauthmail.dll.a on Windows). Define OAUTHMAIL_DYNAMIC before including this header to load it
// at the first call instead (dlopen / LoadLibrary): a program without the library then starts and
// the first call throws oauthmail::NotInstalled (the paths searched, the version found). It looks
// in the path given to oauthmail::load(path) if called first, else $OAUTHMAIL_LIBRARY, else the
// executable's folder, else the system's search. Link -ldl on old glibc.
//
// Threads: a Client may be used from several threads at once; cancel() may be called from any
// thread. The url opener runs on the thread that called authorize(); the logger may run on a
// thread the library created. Exceptions they throw are caught before they reach the library: a
// throwing url opener makes authorize() throw Cancelled whose cause() is the exception.
#ifndef OAUTHMAIL_HPP
#define OAUTHMAIL_HPP

#include <cstdint>
#include <cstdlib>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "oauthmail.h"

#ifdef OAUTHMAIL_DYNAMIC
#ifdef _WIN32
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>
#else
#include <dlfcn.h>
#include <unistd.h>
#endif
#endif

namespace oauthmail {

/// The library could not be loaded, or is older than this header needs (OAUTHMAIL_DYNAMIC only).
class NotInstalled : public std::runtime_error {
public:
    NotInstalled(const std::string& what, std::vector<std::string> searched, std::string version_found)
        : std::runtime_error(what), searched_(std::move(searched)), version_found_(std::move(version_found)) {}
    /// Every path tried, each with the reason it failed.
    const std::vector<std::string>& searched() const noexcept { return searched_; }
    /// The version of a library that loaded but is too old; "" when none loaded.
    const std::string& version_found() const noexcept { return version_found_; }

private:
    std::vector<std::string> searched_;
    std::string version_found_;
};

namespace detail {
// The entry points, called through this table in both linking modes.
struct Api {
    decltype(&::oauthmail_version) version;
    decltype(&::oauthmail_status_name) status_name;
    decltype(&::oauthmail_client_new) client_new;
    decltype(&::oauthmail_client_free) client_free;
    decltype(&::oauthmail_client_set_url_opener) client_set_url_opener;
    decltype(&::oauthmail_client_set_logger) client_set_logger;
    decltype(&::oauthmail_authorize) authorize;
    decltype(&::oauthmail_refresh) refresh;
    decltype(&::oauthmail_send) send;
    decltype(&::oauthmail_revoke) revoke;
    decltype(&::oauthmail_cancel) cancel;
    decltype(&::oauthmail_string_free) string_free;
    // Newer entry points: with OAUTHMAIL_DYNAMIC a library without them still loads (they are
    // then null) and only the call that needs one throws NotInstalled (see need()).
    decltype(&::oauthmail_client_set_progress) client_set_progress;
    decltype(&::oauthmail_check) check;
    decltype(&::oauthmail_store_list) store_list;
    decltype(&::oauthmail_store_remove) store_remove;
};

#ifndef OAUTHMAIL_DYNAMIC
inline const Api& api() {
    static const Api linked{&::oauthmail_version, &::oauthmail_status_name, &::oauthmail_client_new,
                            &::oauthmail_client_free, &::oauthmail_client_set_url_opener,
                            &::oauthmail_client_set_logger, &::oauthmail_authorize, &::oauthmail_refresh,
                            &::oauthmail_send, &::oauthmail_revoke, &::oauthmail_cancel,
                            &::oauthmail_string_free, &::oauthmail_client_set_progress, &::oauthmail_check,
                            &::oauthmail_store_list, &::oauthmail_store_remove};
    return linked;
}
#else
#ifdef _WIN32
inline const char* lib_name() { return "oauthmail.dll"; }
#elif defined(__APPLE__)
inline const char* lib_name() { return "liboauthmail.dylib"; }
#else
inline const char* lib_name() { return "liboauthmail.so"; }
#endif

struct Loader {
    std::mutex lock;
    bool loaded = false;
    Api api{};
    std::string path;
};
inline Loader& loader() {
    static Loader l;
    return l;
}

inline std::string exe_dir() {
#ifdef _WIN32
    wchar_t buf[32768];
    DWORD n = GetModuleFileNameW(nullptr, buf, 32768);
    if (n == 0 || n >= 32768) return {};
    int len = WideCharToMultiByte(CP_UTF8, 0, buf, static_cast<int>(n), nullptr, 0, nullptr, nullptr);
    std::string s(static_cast<size_t>(len), '\0');
    WideCharToMultiByte(CP_UTF8, 0, buf, static_cast<int>(n), &s[0], len, nullptr, nullptr);
    size_t slash = s.find_last_of("\\/");
#else
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return {};
    std::string s(buf, static_cast<size_t>(n));
    size_t slash = s.rfind('/');
#endif
    return slash == std::string::npos ? std::string() : s.substr(0, slash + 1);
}

// Tries one file: true when every entry point is there and the version is new enough.
inline bool try_load(Loader& l, const std::string& path, std::vector<std::string>& searched, std::string& found) {
#ifdef _WIN32
    int len = MultiByteToWideChar(CP_UTF8, 0, path.c_str(), -1, nullptr, 0);
    std::wstring w(static_cast<size_t>(len > 0 ? len : 1), L'\0');
    MultiByteToWideChar(CP_UTF8, 0, path.c_str(), -1, &w[0], len);
    HMODULE h = LoadLibraryW(w.c_str());
    if (!h) {
        searched.push_back(path + ": error " + std::to_string(GetLastError()));
        return false;
    }
    auto sym = [h](const char* name) { return reinterpret_cast<void*>(GetProcAddress(h, name)); };
    auto close = [h] { FreeLibrary(h); };
#else
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char* e = dlerror();
        searched.push_back(path + ": " + (e ? e : "not loadable"));
        return false;
    }
    auto sym = [h](const char* name) { return dlsym(h, name); };
    auto close = [h] { dlclose(h); };
#endif
    Api a{};
    std::string missing;
    auto get = [&](auto& field, const char* name) {
        void* p = sym(name);
        if (!p) missing += (missing.empty() ? "" : ", ") + std::string(name);
        field = reinterpret_cast<std::remove_reference_t<decltype(field)>>(p);
    };
    get(a.version, "oauthmail_version");
    get(a.status_name, "oauthmail_status_name");
    get(a.client_new, "oauthmail_client_new");
    get(a.client_free, "oauthmail_client_free");
    get(a.client_set_url_opener, "oauthmail_client_set_url_opener");
    get(a.client_set_logger, "oauthmail_client_set_logger");
    get(a.authorize, "oauthmail_authorize");
    get(a.refresh, "oauthmail_refresh");
    get(a.send, "oauthmail_send");
    get(a.revoke, "oauthmail_revoke");
    get(a.cancel, "oauthmail_cancel");
    get(a.string_free, "oauthmail_string_free");
    auto get_optional = [&](auto& field, const char* name) {
        field = reinterpret_cast<std::remove_reference_t<decltype(field)>>(sym(name));
    };
    get_optional(a.client_set_progress, "oauthmail_client_set_progress");
    get_optional(a.check, "oauthmail_check");
    get_optional(a.store_list, "oauthmail_store_list");
    get_optional(a.store_remove, "oauthmail_store_remove");
    if (!missing.empty()) {
        found = a.version ? a.version() : "(no oauthmail_version)";
        searched.push_back(path + ": version " + found + " lacks " + missing);
        close();
        return false;
    }
    l.api = a;
    l.path = path;
    return true;  // stays loaded until the process ends: callbacks may still return into it
}
#endif
}  // namespace detail

#ifdef OAUTHMAIL_DYNAMIC
/// Loads the library from `path` (a file), or searches as described at the top when it is empty.
/// Throws NotInstalled. Does nothing once a library is loaded.
inline void load(const std::string& path = {}) {
    detail::Loader& l = detail::loader();
    std::lock_guard<std::mutex> g(l.lock);
    if (l.loaded) return;
    std::vector<std::string> searched;
    std::string found;
    bool ok = false;
    const char* env = std::getenv("OAUTHMAIL_LIBRARY");
    if (!path.empty()) {
        ok = detail::try_load(l, path, searched, found);
    } else if (env && *env) {
        ok = detail::try_load(l, env, searched, found);  // an explicit choice is never second-guessed
    } else {
        std::string dir = detail::exe_dir();
        if (!dir.empty()) ok = detail::try_load(l, dir + detail::lib_name(), searched, found);
        if (!ok) ok = detail::try_load(l, detail::lib_name(), searched, found);  // the system's search
#if !defined(_WIN32) && !defined(__APPLE__)
        if (!ok) ok = detail::try_load(l, std::string(detail::lib_name()) + ".0", searched, found);
#endif
    }
    if (!ok) {
        std::string list;
        for (const auto& s : searched) list += (list.empty() ? "" : "; ") + s;
        throw NotInstalled(found.empty() ? "liboauthmail is not installed (searched: " + list + ")"
                                         : "liboauthmail " + found + " is too old for this program: " + list,
                           std::move(searched), found);
    }
    l.loaded = true;
}

/// The file the library was loaded from ("" before).
inline std::string library_path() {
    detail::Loader& l = detail::loader();
    std::lock_guard<std::mutex> g(l.lock);
    return l.path;
}

namespace detail {
inline const Api& api() {
    Loader& l = loader();
    {
        std::lock_guard<std::mutex> g(l.lock);
        if (l.loaded) return l.api;
    }
    load();
    return l.api;
}
}  // namespace detail
#endif

/// The library's version at run time ("0.1.0"); compare with OAUTHMAIL_VERSION_STRING.
inline std::string version() { return detail::api().version(); }

/// The lowercase name of a status code ("invalid_argument"); "unknown" for unknown values.
inline std::string status_name(oauthmail_status status) { return detail::api().status_name(status); }

/// The statuses as an error-code enum: oauthmail::errc::reauthorize == OAUTHMAIL_REAUTHORIZE.
enum class errc : uint32_t {
    ok = OAUTHMAIL_OK,
    invalid_argument = OAUTHMAIL_INVALID_ARGUMENT,
    cancelled = OAUTHMAIL_CANCELLED,
    timeout = OAUTHMAIL_TIMEOUT,
    access_denied = OAUTHMAIL_ACCESS_DENIED,
    reauthorize = OAUTHMAIL_REAUTHORIZE,
    insufficient_scope = OAUTHMAIL_INSUFFICIENT_SCOPE,
    auth_failed = OAUTHMAIL_AUTH_FAILED,
    network = OAUTHMAIL_NETWORK,
    tls = OAUTHMAIL_TLS,
    rate_limited = OAUTHMAIL_RATE_LIMITED,
    rejected = OAUTHMAIL_REJECTED,
    provider = OAUTHMAIL_PROVIDER,
    io = OAUTHMAIL_IO,
    internal = OAUTHMAIL_INTERNAL,
};

namespace detail {
// The names without the library, for the errors the wrapper raises itself and for the category.
inline const char* offline_name(uint32_t status) noexcept {
    static const char* const names[] = {"ok", "invalid_argument", "cancelled", "timeout", "access_denied",
                                        "reauthorize", "insufficient_scope", "auth_failed", "network", "tls",
                                        "rate_limited", "rejected", "provider", "io", "internal"};
    return status < sizeof names / sizeof names[0] ? names[status] : "unknown";
}

class Category : public std::error_category {
public:
    const char* name() const noexcept override { return "oauthmail"; }
    std::string message(int status) const override { return offline_name(static_cast<uint32_t>(status)); }
    std::error_condition default_error_condition(int status) const noexcept override {
        switch (static_cast<uint32_t>(status)) {
        case OAUTHMAIL_INVALID_ARGUMENT: return std::errc::invalid_argument;
        case OAUTHMAIL_CANCELLED: return std::errc::operation_canceled;
        case OAUTHMAIL_TIMEOUT: return std::errc::timed_out;
        case OAUTHMAIL_ACCESS_DENIED: return std::errc::permission_denied;
        case OAUTHMAIL_NETWORK: return std::errc::network_unreachable;
        case OAUTHMAIL_IO: return std::errc::io_error;
        default: return std::error_condition(status, *this);
        }
    }
};
}  // namespace detail

/// The error category of liboauthmail's statuses (name "oauthmail"; messages are the status names).
inline const std::error_category& category() noexcept {
    static const detail::Category c;
    return c;
}

inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), category()}; }
}  // namespace oauthmail

namespace std {
template <>
struct is_error_code_enum<oauthmail::errc> : true_type {};
}  // namespace std

namespace oauthmail {

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

namespace detail {
// The end (exclusive) of the JSON value starting at doc[j], or j when it is malformed.
inline size_t skip_value(const std::string& doc, size_t j) {
    if (j >= doc.size()) return j;
    std::string s;
    if (doc[j] == '"') {
        size_t k = j;
        return read_string(doc, k, s) ? k : j;
    }
    if (doc[j] != '{' && doc[j] != '[') {
        size_t k = j;
        while (k < doc.size() && std::string(",}] \n\r\t").find(doc[k]) == std::string::npos) ++k;
        return k;
    }
    int depth = 0;
    for (size_t k = j; k < doc.size();) {
        char c = doc[k];
        if (c == '"') {
            if (!read_string(doc, k, s)) return j;
            continue;
        }
        if (c == '{' || c == '[') ++depth;
        else if ((c == '}' || c == ']') && --depth == 0) return k + 1;
        ++k;
    }
    return j;
}
}  // namespace detail

/// The JSON text of the value of the first member named `key` anywhere in `doc` (an object, an
/// array, a string with its quotes, a number or literal), or "" when there is none.
inline std::string get_raw(const std::string& doc, const std::string& key) {
    size_t i = 0;
    std::string s;
    while (i < doc.size()) {
        if (doc[i] != '"') { ++i; continue; }
        if (!detail::read_string(doc, i, s)) return {};
        size_t j = i;
        while (j < doc.size() && (doc[j] == ' ' || doc[j] == '\n' || doc[j] == '\r' || doc[j] == '\t')) ++j;
        if (j < doc.size() && doc[j] == ':' && s == key) {
            ++j;
            while (j < doc.size() && (doc[j] == ' ' || doc[j] == '\n' || doc[j] == '\r' || doc[j] == '\t')) ++j;
            size_t end = detail::skip_value(doc, j);
            return end > j ? doc.substr(j, end - j) : std::string();
        }
    }
    return {};
}

namespace detail {
inline size_t skip_ws(const std::string& doc, size_t j) {
    while (j < doc.size() && (doc[j] == ' ' || doc[j] == '\n' || doc[j] == '\r' || doc[j] == '\t')) ++j;
    return j;
}
}  // namespace detail

/// The members of the JSON object `object` (its own, not those of nested objects), each as its
/// key and the JSON text of its value; empty when `object` is not an object.
inline std::vector<std::pair<std::string, std::string>> members(const std::string& object) {
    std::vector<std::pair<std::string, std::string>> out;
    size_t i = detail::skip_ws(object, 0);
    if (i >= object.size() || object[i] != '{') return out;
    i = detail::skip_ws(object, i + 1);
    std::string key;
    while (i < object.size() && object[i] == '"') {
        if (!detail::read_string(object, i, key)) return {};
        i = detail::skip_ws(object, i);
        if (i >= object.size() || object[i] != ':') return {};
        i = detail::skip_ws(object, i + 1);
        size_t end = detail::skip_value(object, i);
        if (end <= i) return {};
        out.emplace_back(key, object.substr(i, end - i));
        i = detail::skip_ws(object, end);
        if (i < object.size() && object[i] == ',') i = detail::skip_ws(object, i + 1);
    }
    return out;
}

/// The JSON text of the member `key` of the object `object` itself (not of a nested one), or "".
inline std::string member(const std::string& object, const std::string& key) {
    for (auto& m : members(object))
        if (m.first == key) return m.second;
    return {};
}

/// The elements of the JSON array `array`, each as JSON text; empty when it is not an array.
inline std::vector<std::string> elements(const std::string& array) {
    std::vector<std::string> out;
    size_t i = detail::skip_ws(array, 0);
    if (i >= array.size() || array[i] != '[') return out;
    i = detail::skip_ws(array, i + 1);
    while (i < array.size() && array[i] != ']') {
        size_t end = detail::skip_value(array, i);
        if (end <= i) return {};
        out.push_back(array.substr(i, end - i));
        i = detail::skip_ws(array, end);
        if (i < array.size() && array[i] == ',') i = detail::skip_ws(array, i + 1);
    }
    return out;
}

/// A JSON string value (the text of one, quotes included) decoded; `fallback` when it is not one.
inline std::string as_string(const std::string& value, const std::string& fallback = {}) {
    std::string out;
    size_t i = 0;
    if (value.empty() || value[0] != '"' || !detail::read_string(value, i, out)) return fallback;
    return out;
}

/// A JSON integer value; nullopt for null, a non-integer or anything else.
inline std::optional<int64_t> as_int(const std::string& value) {
    if (value.empty() || !(value[0] == '-' || (value[0] >= '0' && value[0] <= '9'))) return std::nullopt;
    char* end = nullptr;
    long long v = std::strtoll(value.c_str(), &end, 10);
    if (end != value.c_str() + value.size()) return std::nullopt;
    return static_cast<int64_t>(v);
}

}  // namespace json

/// A failed call: the status code, its name and the library's error document (JSON text). Each
/// status throws its subclass below; statuses added later throw Error itself.
class Error : public std::runtime_error {
public:
    Error(oauthmail_status status, std::string document, std::exception_ptr cause = nullptr)
        : std::runtime_error(describe(status, document)), status_(status), document_(std::move(document)),
          cause_(std::move(cause)) {}

    oauthmail_status status() const noexcept { return status_; }
    /// The status as a std::error_code in oauthmail::category().
    std::error_code code() const noexcept { return make_error_code(static_cast<errc>(status_)); }
    std::string name() const { return json::get_string(document_, "status", detail::offline_name(status_)); }
    /// The error document: {"error": {"status", "code", "message", "hint", "field"?, ...}}.
    const std::string& document() const noexcept { return document_; }
    std::string message() const { return json::get_string(document_, "message"); }
    std::string hint() const { return json::get_string(document_, "hint"); }
    /// A stable id of the hint, where the library sends one; "" otherwise.
    std::string hint_id() const { return json::get_string(document_, "hint_id"); }
    /// The input the error is about ("config.client_id", "message.to[1]"), or "".
    std::string field() const { return json::get_string(document_, "field"); }
    /// What a callback threw, when that made the call fail (the url opener); null otherwise.
    const std::exception_ptr& cause() const noexcept { return cause_; }

private:
    static std::string describe(oauthmail_status status, const std::string& doc) {
        std::string text = json::get_string(doc, "status", detail::offline_name(status)) + " (" +
                           std::to_string(status) + "): " + json::get_string(doc, "message", "no details");
        std::string field = json::get_string(doc, "field");
        if (!field.empty()) text += " [field " + field + "]";
        return text;
    }
    oauthmail_status status_;
    std::string document_;
    std::exception_ptr cause_;
};

#define OAUTHMAIL_HPP_ERROR(Name, Status)                                                         \
    class Name : public Error {                                                                   \
    public:                                                                                       \
        explicit Name(std::string document, std::exception_ptr cause = nullptr)                  \
            : Error(Status, std::move(document), std::move(cause)) {}                            \
    };
OAUTHMAIL_HPP_ERROR(InvalidArgument, OAUTHMAIL_INVALID_ARGUMENT)    ///< bad input; field() names it
OAUTHMAIL_HPP_ERROR(Cancelled, OAUTHMAIL_CANCELLED)                 ///< cancel(), or the url opener declined
OAUTHMAIL_HPP_ERROR(Timeout, OAUTHMAIL_TIMEOUT)                     ///< a configured time limit ran out
OAUTHMAIL_HPP_ERROR(AccessDenied, OAUTHMAIL_ACCESS_DENIED)          ///< consent declined / account refused
OAUTHMAIL_HPP_ERROR(Reauthorize, OAUTHMAIL_REAUTHORIZE)             ///< the refresh token is dead: authorize again
OAUTHMAIL_HPP_ERROR(InsufficientScope, OAUTHMAIL_INSUFFICIENT_SCOPE)
OAUTHMAIL_HPP_ERROR(AuthFailed, OAUTHMAIL_AUTH_FAILED)
OAUTHMAIL_HPP_ERROR(NetworkError, OAUTHMAIL_NETWORK)
OAUTHMAIL_HPP_ERROR(TlsError, OAUTHMAIL_TLS)
OAUTHMAIL_HPP_ERROR(RateLimited, OAUTHMAIL_RATE_LIMITED)            ///< "retry_after_s" in document() when known
OAUTHMAIL_HPP_ERROR(Rejected, OAUTHMAIL_REJECTED)                   ///< refused permanently; nothing was sent
OAUTHMAIL_HPP_ERROR(ProviderError, OAUTHMAIL_PROVIDER)
OAUTHMAIL_HPP_ERROR(IoError, OAUTHMAIL_IO)
OAUTHMAIL_HPP_ERROR(InternalError, OAUTHMAIL_INTERNAL)
#undef OAUTHMAIL_HPP_ERROR

namespace detail {
// Throws `e`; when it has a cause (what a callback threw), as std::throw_with_nested does: an
// object that is both `E` and a std::nested_exception holding the cause, so that
// std::rethrow_if_nested(e) rethrows it (cause() holds it too).
template <class E>
[[noreturn]] void raise(E e) {
    std::exception_ptr cause = e.cause();
    if (cause) {
        try {
            std::rethrow_exception(cause);
        } catch (...) {
            std::throw_with_nested(std::move(e));
        }
    }
    throw std::move(e);
}
}  // namespace detail

/// Throws the Error subclass of `status`; a `cause` is also nested (std::rethrow_if_nested).
[[noreturn]] inline void throw_error(oauthmail_status status, std::string document, std::exception_ptr cause = nullptr) {
    switch (status) {
    case OAUTHMAIL_INVALID_ARGUMENT: detail::raise(InvalidArgument(std::move(document), std::move(cause)));
    case OAUTHMAIL_CANCELLED: detail::raise(Cancelled(std::move(document), std::move(cause)));
    case OAUTHMAIL_TIMEOUT: detail::raise(Timeout(std::move(document), std::move(cause)));
    case OAUTHMAIL_ACCESS_DENIED: detail::raise(AccessDenied(std::move(document), std::move(cause)));
    case OAUTHMAIL_REAUTHORIZE: detail::raise(Reauthorize(std::move(document), std::move(cause)));
    case OAUTHMAIL_INSUFFICIENT_SCOPE: detail::raise(InsufficientScope(std::move(document), std::move(cause)));
    case OAUTHMAIL_AUTH_FAILED: detail::raise(AuthFailed(std::move(document), std::move(cause)));
    case OAUTHMAIL_NETWORK: detail::raise(NetworkError(std::move(document), std::move(cause)));
    case OAUTHMAIL_TLS: detail::raise(TlsError(std::move(document), std::move(cause)));
    case OAUTHMAIL_RATE_LIMITED: detail::raise(RateLimited(std::move(document), std::move(cause)));
    case OAUTHMAIL_REJECTED: detail::raise(Rejected(std::move(document), std::move(cause)));
    case OAUTHMAIL_PROVIDER: detail::raise(ProviderError(std::move(document), std::move(cause)));
    case OAUTHMAIL_IO: detail::raise(IoError(std::move(document), std::move(cause)));
    case OAUTHMAIL_INTERNAL: detail::raise(InternalError(std::move(document), std::move(cause)));
    default: detail::raise(Error(status, std::move(document), std::move(cause)));
    }
}

/// Options of authorize() (docs/API.md, "Authorize options").
struct AuthorizeOptions {
    explicit AuthorizeOptions(std::string hint = {}, std::optional<bool> browser = {})
        : login_hint(std::move(hint)), open_browser(browser) {}
    std::string login_hint;              ///< preselects the account; "" for none
    std::optional<bool> open_browser;    ///< false: only the url opener is used
    std::string to_json() const {
        std::string out = "{";
        if (!login_hint.empty()) out += "\"login_hint\": " + json::quote(login_hint);
        if (open_browser) out += std::string(out.size() > 1 ? ", " : "") + "\"open_browser\": " + (*open_browser ? "true" : "false");
        return out + "}";
    }
};

/// One attachment of a Message: a file (`path`), or bytes as base64 (`content_base64`).
struct Attachment {
    std::string path;
    std::string filename;        ///< the name the recipient sees (default: the file's own name)
    std::string content_type;
    std::string content_base64;
    std::string content_id;      ///< an inline part the HTML refers to as cid:content_id
};

/// A message; to_json() is the message document (docs/API.md, "Message document"). Addresses are
/// "Name <a@b>" or "a@b"; all text is UTF-8.
struct Message {
    std::string from;
    std::vector<std::string> to, cc, bcc;
    std::string reply_to, subject, text, html;
    std::vector<Attachment> attachments;
    std::vector<std::pair<std::string, std::string>> headers;

    /// Attaches a file (read by the library when sending).
    Message& attach(std::string file_path, std::string file_name = {}) {
        Attachment a;
        a.path = std::move(file_path);
        a.filename = std::move(file_name);
        attachments.push_back(std::move(a));
        return *this;
    }

    std::string to_json() const {
        auto list = [](const std::vector<std::string>& v) {
            std::string out = "[";
            for (const auto& a : v)
                if (!a.empty()) out += (out.size() > 1 ? ", " : "") + json::quote(a);
            return out + "]";
        };
        auto member = [](std::string& out, const char* name, const std::string& value) {
            if (!value.empty()) out += std::string(", \"") + name + "\": " + json::quote(value);
        };
        std::string out = "{\"from\": " + json::quote(from) + ", \"to\": " + list(to);
        if (!cc.empty()) out += ", \"cc\": " + list(cc);
        if (!bcc.empty()) out += ", \"bcc\": " + list(bcc);
        member(out, "reply_to", reply_to);
        out += ", \"subject\": " + json::quote(subject);
        member(out, "text", text);
        member(out, "html", html);
        if (!attachments.empty()) {
            out += ", \"attachments\": [";
            for (size_t i = 0; i < attachments.size(); ++i) {
                const Attachment& a = attachments[i];
                std::string part;
                member(part, "path", a.path);
                member(part, "content_base64", a.content_base64);
                member(part, "filename", a.filename);
                member(part, "content_type", a.content_type);
                member(part, "content_id", a.content_id);
                out += (i ? ", {" : "{") + (part.size() > 2 ? part.substr(2) : part) + "}";
            }
            out += "]";
        }
        if (!headers.empty()) {
            out += ", \"headers\": {";
            for (size_t i = 0; i < headers.size(); ++i)
                out += (i ? ", " : "") + json::quote(headers[i].first) + ": " + json::quote(headers[i].second);
            out += "}";
        }
        return out + "}";
    }
};

/// The result of a send (docs/API.md, "Send result").
struct SendResult {
    std::string message_id;   ///< the sent message's Message-ID header
    std::string transport;
    std::string provider_id;  ///< the provider's id of the message, or ""
    std::string token;        ///< the refreshed token document when the send refreshed it (store it), or ""
    std::string json;         ///< the whole result document

    static SendResult parse(const std::string& doc) {
        SendResult r;
        r.json = doc;
        r.message_id = json::get_string(doc, "message_id");
        r.transport = json::get_string(doc, "transport");
        r.provider_id = json::get_string(doc, "provider_id");
        std::string t = json::get_raw(doc, "token");
        if (!t.empty() && t[0] == '{') r.token = t;
        return r;
    }
};

/// Token references, accepted wherever a token document is (send, refresh, revoke, check).
struct TokenRef {
    /// `{"account": email}`: the account's token in the token store (Config::store_path). The
    /// library loads it, refreshes it under the store's lock when needed and writes it back; the
    /// send result then carries no token. revoke() with it also removes the entry.
    static std::string account(const std::string& email) { return "{\"account\": " + json::quote(email) + "}"; }
    /// `{"subject": email}`: with Config::service_account_file, act as that user of the Workspace
    /// domain (send, refresh, check; no authorize).
    static std::string subject(const std::string& email) { return "{\"subject\": " + json::quote(email) + "}"; }
};

/// A client configuration builder; to_json() is the configuration document (docs/API.md, "Client
/// configuration"). Empty members are left out; `extra` holds further members as JSON text
/// (`"timeouts": {"io_s": 60}`), appended as they are.
struct Config {
    std::string provider = "google";  ///< "google", "microsoft" or "custom"
    std::string client_id, client_secret;
    std::string client_secrets_file;   ///< Google's downloaded client_secret_....json
    std::string service_account_file;  ///< a Workspace service account's key file: send with TokenRef::subject
    std::string transport;             ///< "gmail_api", "smtp" or "graph"; "" for the provider's default
    std::string tenant;                ///< Microsoft: "common", "organizations", a tenant id or domain
    std::string store_path;            ///< the token store's file (may be on a network share); "" for none
    std::string store_protect;         ///< "user" / "machine" (Windows DPAPI) or "none"; "" for the default
    std::string ui_language;           ///< "ro": hints in Romanian
    std::vector<std::string> extra;    ///< further members, each `"name": value` in JSON

    std::string to_json() const {
        std::string out = "{";
        auto member = [&out](const char* name, const std::string& value) {
            if (value.empty()) return;
            out += (out.size() > 1 ? ", \"" : "\"") + std::string(name) + "\": " + json::quote(value);
        };
        member("provider", provider);
        member("client_id", client_id);
        member("client_secret", client_secret);
        member("client_secrets_file", client_secrets_file);
        member("service_account_file", service_account_file);
        member("transport", transport);
        member("tenant", tenant);
        if (!store_path.empty()) {
            out += std::string(out.size() > 1 ? ", " : "") + "\"store\": {\"path\": " + json::quote(store_path);
            if (!store_protect.empty()) out += ", \"protect\": " + json::quote(store_protect);
            out += "}";
        }
        member("ui_language", ui_language);
        for (const auto& e : extra)
            if (!e.empty()) out += (out.size() > 1 ? ", " : "") + e;
        return out + "}";
    }
};

/// One step of a check (docs/API.md, oauthmail_check).
struct CheckStep {
    std::string step;    ///< "config", "dns", "tcp", "tls", "client", "refresh", "scopes", "gmail_api", "smtp_ehlo", ...
    std::string target;  ///< what it looked at (a host:port, the token, ...)
    bool ok = false;
    int64_t ms = 0;      ///< how long it took
    std::string detail;  ///< one English line
    /// A failed step's error, as a send would have thrown it (status(), hint(), hint_id(), ...);
    /// empty for a step that passed.
    std::optional<Error> error;
};

/// The report of Client::check(): a failed step is a finding, not an exception.
struct CheckResult {
    bool ok = false;              ///< every step passed
    std::vector<CheckStep> steps; ///< in order; the check stops at the first failed step
    std::string json;             ///< the whole report

    /// The failed step (the last one), or nullptr when every step passed.
    const CheckStep* failed() const noexcept {
        for (const auto& s : steps)
            if (!s.ok) return &s;
        return nullptr;
    }

    static CheckResult parse(const std::string& doc) {
        CheckResult r;
        r.json = doc;
        r.ok = json::member(doc, "ok") == "true";
        for (const auto& raw : json::elements(json::member(doc, "steps"))) {
            CheckStep s;
            for (const auto& m : json::members(raw)) {
                if (m.first == "step") s.step = json::as_string(m.second);
                else if (m.first == "target") s.target = json::as_string(m.second);
                else if (m.first == "ok") s.ok = m.second == "true";
                else if (m.first == "ms") s.ms = json::as_int(m.second).value_or(0);
                else if (m.first == "detail") s.detail = json::as_string(m.second);
                else if (m.first == "error" && !m.second.empty() && m.second[0] == '{') {
                    auto code = json::as_int(json::member(m.second, "code"));
                    s.error.emplace(static_cast<oauthmail_status>(code.value_or(OAUTHMAIL_INTERNAL)),
                                    "{\"error\": " + m.second + "}");
                }
            }
            r.steps.push_back(std::move(s));
        }
        return r;
    }
};

/// An account of the token store (Client::store_list()); never a secret. Times are Unix seconds,
/// empty when the store does not know them.
struct StoredAccount {
    std::string account, provider, scope;
    std::optional<int64_t> authorized_at, expires_at, refreshed_at;

    static std::vector<StoredAccount> parse_list(const std::string& doc) {
        std::vector<StoredAccount> out;
        for (const auto& raw : json::elements(json::member(doc, "accounts"))) {
            StoredAccount a;
            a.account = json::as_string(json::member(raw, "account"));
            a.provider = json::as_string(json::member(raw, "provider"));
            a.scope = json::as_string(json::member(raw, "scope"));
            a.authorized_at = json::as_int(json::member(raw, "authorized_at"));
            a.expires_at = json::as_int(json::member(raw, "expires_at"));
            a.refreshed_at = json::as_int(json::member(raw, "refreshed_at"));
            out.push_back(std::move(a));
        }
        return out;
    }
};

/// Opens the authorization URL; return true when it was opened (false declines: CANCELLED).
using UrlOpener = std::function<bool(const std::string& url)>;
/// Receives a log line: level 1 = error .. 5 = trace. Never contains a secret.
using Logger = std::function<void(uint32_t level, const std::string& message)>;
/// Upload progress of a send: `bytes_done` of `bytes_total`, on the sending thread. Return true
/// to go on, false to cancel the send before its final data (nothing is delivered).
using Progress = std::function<bool(uint64_t bytes_done, uint64_t bytes_total)>;

namespace detail {
struct StringFree {
    void operator()(char* p) const noexcept {
        if (p) api().string_free(p);  // the library was loaded to allocate p
    }
};
using OwnedString = std::unique_ptr<char, StringFree>;

inline std::string take(char* p) {
    OwnedString owned(p);  // released on every path, by the library's own free function
    return owned ? std::string(owned.get()) : std::string();
}

inline InvalidArgument argument_error(const std::string& field, const std::string& message) {
    return InvalidArgument("{\"error\": {\"status\": \"invalid_argument\", \"code\": 1, \"message\": " + json::quote(message) +
                           ", \"hint\": \"Correct the input named in 'field' and call again.\", \"field\": " +
                           json::quote(field) + "}}");
}

// C strings end at the first NUL: refuse a document with one rather than send it truncated.
inline const char* c_str(const std::string& s, const char* field) {
    if (s.find('\0') != std::string::npos) throw argument_error(field, std::string(field) + " contains a NUL character");
    return s.c_str();
}

// Takes ownership of `out`; returns it as a string on success, throws it as an Error otherwise.
inline std::string finish(oauthmail_status status, char* out, std::exception_ptr cause = nullptr) {
    std::string text = take(out);
    if (status != OAUTHMAIL_OK) throw_error(status, std::move(text), std::move(cause));
    return text;
}

// A newer entry point, or NotInstalled saying which one the loaded library lacks.
template <class F>
F need(F f, const char* name) {
    if (f) return f;
    std::string found = api().version();
#ifdef OAUTHMAIL_DYNAMIC
    std::string where = library_path();
#else
    std::string where = "liboauthmail";
#endif
    throw NotInstalled("liboauthmail " + found + " lacks " + name + " (this program needs a newer library): " + where,
                       {where + ": version " + found + " lacks " + name}, found);
}

// What the url opener threw: it runs on the thread that called authorize().
inline std::exception_ptr& opener_exception() {
    static thread_local std::exception_ptr e;
    return e;
}

inline int32_t url_opener_trampoline(void* user_data, const char* url) noexcept {
    try {
        return (*static_cast<const UrlOpener*>(user_data))(url) ? 0 : 1;
    } catch (...) {
        opener_exception() = std::current_exception();
        return 1;  // never let an exception unwind into the library
    }
}

// What the progress callback threw: it runs on the thread that called send().
inline std::exception_ptr& progress_exception() {
    static thread_local std::exception_ptr e;
    return e;
}

inline int32_t progress_trampoline(void* user_data, uint64_t done, uint64_t total) noexcept {
    try {
        return (*static_cast<const Progress*>(user_data))(done, total) ? 0 : 1;
    } catch (...) {
        if (!progress_exception()) progress_exception() = std::current_exception();
        return 1;  // cancel; never let an exception unwind into the library
    }
}

inline void logger_trampoline(void* user_data, uint32_t level, const char* message) noexcept {
    try {
        (*static_cast<const Logger*>(user_data))(level, message);
    } catch (...) {
    }
}

struct ClientFree {
    void operator()(oauthmail_client* c) const noexcept {
        if (c) api().client_free(c);
    }
};
}  // namespace detail

/// One configuration, its connections and callbacks. Move-only; the destructor frees the handle
/// (no other thread may then be inside a call on it).
class Client {
public:
    /// config_json: the client configuration (docs/API.md). Throws InvalidArgument (+ field), and
    /// NotInstalled (OAUTHMAIL_DYNAMIC) when the library cannot be loaded.
    /// A configuration built with Config.
    explicit Client(const Config& config) : Client(config.to_json()) {}

    explicit Client(const std::string& config_json) : callbacks_(std::make_unique<Callbacks>()) {
        oauthmail_client* raw = nullptr;
        char* out = nullptr;
        const char* config = detail::c_str(config_json, "config");
        oauthmail_status status = detail::api().client_new(config, &raw, &out);
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
        detail::opener_exception() = nullptr;
        oauthmail_status status = detail::api().authorize(
            h(), options_json.empty() ? nullptr : detail::c_str(options_json, "options"), &out);
        std::exception_ptr cause = std::move(detail::opener_exception());
        detail::opener_exception() = nullptr;
        return detail::finish(status, out, std::move(cause));
    }

    std::string authorize(const AuthorizeOptions& options) { return authorize(options.to_json()); }

    std::string refresh(const std::string& token_json) {
        char* out = nullptr;
        oauthmail_status status = detail::api().refresh(h(), detail::c_str(token_json, "token"), &out);
        return detail::finish(status, out);
    }

    /// Sends one message; the result may carry a refreshed "token" to store (never with a
    /// TokenRef). When the progress callback returns false or throws, the send is cancelled
    /// before its final data (nothing is delivered) and throws Cancelled; a throw is its cause()
    /// and is nested in it (std::rethrow_if_nested).
    std::string send(const std::string& token_json, const std::string& message_json) {
        char* out = nullptr;
        detail::progress_exception() = nullptr;
        oauthmail_status status =
            detail::api().send(h(), detail::c_str(token_json, "token"), detail::c_str(message_json, "message"), &out);
        std::exception_ptr cause = std::move(detail::progress_exception());
        detail::progress_exception() = nullptr;
        if (cause && status == OAUTHMAIL_OK) {
            // Thrown in the last call (bytes_done == bytes_total), too late to cancel: the message
            // went out, so the send succeeded; the exception is kept for progress_error().
            std::lock_guard<std::mutex> g(callbacks_->lock);
            if (!callbacks_->progress_error) callbacks_->progress_error = cause;
            cause = nullptr;
        }
        return detail::finish(status, out, std::move(cause));
    }

    /// Sends a Message; SendResult::token is the refreshed token to store, when there is one.
    SendResult send(const std::string& token_json, const Message& message) {
        return SendResult::parse(send(token_json, message.to_json()));
    }

    std::string revoke(const std::string& token_json) {
        char* out = nullptr;
        oauthmail_status status = detail::api().revoke(h(), detail::c_str(token_json, "token"), &out);
        return detail::finish(status, out);
    }

    /// A pre-flight check that never sends a message (oauthmail_check): the configuration, DNS,
    /// TCP and TLS to each host, the OAuth client, and with a token document ("" for none) the
    /// refresh, the granted scopes and the transport (a TokenRef is passed on as it is; the
    /// library's oauthmail_check refuses it today with InvalidArgument, field "token"). A failed step is a result
    /// (ok false; failed()->error has the status, hint and hint_id), not an exception. Throws only
    /// when the call fails: bad arguments (InvalidArgument), cancel() (Cancelled).
    CheckResult check(const std::string& token_json = std::string()) {
        auto fn = detail::need(detail::api().check, "oauthmail_check");
        char* out = nullptr;
        oauthmail_status status = fn(h(), token_json.empty() ? nullptr : detail::c_str(token_json, "token"), &out);
        std::string text = detail::take(out);
        if (json::member(text, "steps").empty()) {
            if (status == OAUTHMAIL_OK) throw_error(OAUTHMAIL_INTERNAL, text);  // not from this library
            throw_error(status, std::move(text));
        }
        CheckResult report = CheckResult::parse(text);
        if (status == OAUTHMAIL_CANCELLED) {  // cancel() ended it: the call's error, not a finding
            const CheckStep* f = report.failed();
            throw_error(status, f && f->error ? f->error->document() : text);
        }
        return report;
    }

    // -- the token store (Config::store_path) --------------------------------------------------

    /// The accounts in the token store, ordered by account; never a secret. Throws
    /// InvalidArgument (field "config.store") without a store, IoError when it cannot be read.
    std::vector<StoredAccount> store_list() {
        auto fn = detail::need(detail::api().store_list, "oauthmail_store_list");
        char* out = nullptr;
        oauthmail_status status = fn(h(), &out);
        return StoredAccount::parse_list(detail::finish(status, out));
    }

    /// Removes `account` from the token store (without regard to ASCII case); true when it was
    /// there. Nothing is revoked: for that, revoke(TokenRef::account(email)).
    bool store_remove(const std::string& account) {
        auto fn = detail::need(detail::api().store_remove, "oauthmail_store_remove");
        char* out = nullptr;
        oauthmail_status status = fn(h(), detail::c_str(account, "account"), &out);
        return json::member(detail::finish(status, out), "removed") == "true";
    }

    /// Makes the calls in flight on this client fail with Cancelled. Safe from any thread.
    void cancel() noexcept {
        if (handle_) detail::api().cancel(handle_.get());
    }

    /// Replaces the system browser with `opener`, called on the thread that called authorize()
    /// before the library answers the browser: return promptly. Returning false declines; a throw
    /// makes authorize() throw Cancelled with cause() = the exception. An empty function restores
    /// the browser.
    void set_url_opener(UrlOpener opener) {
        if (!opener) {
            detail::finish(detail::api().client_set_url_opener(h(), nullptr, nullptr), nullptr);
            return;
        }
        const UrlOpener* kept = callbacks_->keep(std::move(opener));
        detail::finish(detail::api().client_set_url_opener(h(), &detail::url_opener_trampoline, const_cast<UrlOpener*>(kept)),
                       nullptr);
    }

    /// Log lines of level <= max_level go to `logger`, possibly on other threads. An empty
    /// function turns logging off. What the logger throws is caught and dropped.
    void set_logger(Logger logger, uint32_t max_level = 3) {
        if (!logger) {
            detail::finish(detail::api().client_set_logger(h(), nullptr, nullptr, 0), nullptr);
            return;
        }
        const Logger* kept = callbacks_->keep(std::move(logger));
        detail::finish(
            detail::api().client_set_logger(h(), &detail::logger_trampoline, const_cast<Logger*>(kept), max_level),
            nullptr);
    }

    /// `progress(bytes_done, bytes_total)` during send(), on the sending thread, at most about ten
    /// times a second, bytes_done never decreasing, last with bytes_done == bytes_total. Returning
    /// false cancels the send before its final data (send() throws Cancelled; nothing is
    /// delivered). A throw is caught before it reaches the library and cancels the same way:
    /// send() throws Cancelled with the exception as cause(), nested. An empty function removes it.
    void set_progress(Progress progress) {
        auto fn = detail::need(detail::api().client_set_progress, "oauthmail_client_set_progress");
        oauthmail_client* c = h();
        if (!progress) {
            detail::finish(fn(c, nullptr, nullptr), nullptr);
            return;
        }
        const Progress* kept = callbacks_->keep(std::move(progress));
        detail::finish(fn(c, &detail::progress_trampoline, const_cast<Progress*>(kept)), nullptr);
    }

    /// What the progress callback threw in its last call (bytes_done == bytes_total), after the
    /// message went out: too late to cancel, so that send() succeeded. Null when it never did.
    std::exception_ptr progress_error() const {
        if (!callbacks_) return nullptr;
        std::lock_guard<std::mutex> g(callbacks_->lock);
        return callbacks_->progress_error;
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
        std::vector<std::unique_ptr<Progress>> progresses;
        std::exception_ptr progress_error;
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
        const Progress* keep(Progress f) {
            std::lock_guard<std::mutex> g(lock);
            progresses.push_back(std::make_unique<Progress>(std::move(f)));
            return progresses.back().get();
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
