// Authorize a Gmail account and send a message with an attachment (C++17, oauthmail.hpp).
//
//   example CONFIG.json LOGIN_HINT ATTACHMENT_PATH
//
// Without OAUTHMAIL_HEADLESS_CA the system browser opens the consent page. With
// OAUTHMAIL_HEADLESS_CA=ca.pem (the local Google stand-in, --auto-approve) the url opener has curl
// fetch the consent URL in the background and follow its redirect to the library's loopback
// listener, as a browser would. Prints the sent message's Message-ID.
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "oauthmail.hpp"

namespace {
std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// Single quotes for the POSIX shell (the URL holds & and ?).
std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += (c == '\'') ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}
}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::cerr << "usage: example CONFIG.json LOGIN_HINT ATTACHMENT_PATH\n";
        return 2;
    }
    std::vector<std::thread> browsers;
    try {
        oauthmail::Client client(read_file(argv[1]));
        client.set_logger([](uint32_t level, const std::string& line) { std::cerr << "[log " << level << "] " << line << "\n"; });
        if (const char* ca = std::getenv("OAUTHMAIL_HEADLESS_CA")) {
            std::string ca_file = ca;
            // Called on the authorizing thread before the library listens for the redirect:
            // start the "browser" and return at once.
            client.set_url_opener([&browsers, ca_file](const std::string& url) {
                std::string cmd = "curl -s -o /dev/null -L --max-time 20 --cacert " + shell_quote(ca_file) + " " + shell_quote(url);
                browsers.emplace_back([cmd] { (void)std::system(cmd.c_str()); });
                return true;
            });
        }
        std::string login_hint = argv[2];
        std::string token = client.authorize("{\"login_hint\": " + oauthmail::json::quote(login_hint) + "}");
        // Store `token` protected (it holds the refresh token); here it is used at once.
        std::string email = oauthmail::json::get_string(token, "email");
        std::string message = std::string("{") +
            "\"from\": " + oauthmail::json::quote("Firma SRL <" + email + ">") + ", " +
            "\"to\": [\"Ion Popescu <ion@example.ro>\"], " +
            "\"subject\": " + oauthmail::json::quote("Factură nr. 123 [cpp] — ă â î ș ț Ă Â Î Ș Ț") + ", " +
            "\"text\": " + oauthmail::json::quote("Bună ziua,\n\nvă trimitem factura în atașament: ă â î ș ț.\n") + ", " +
            "\"attachments\": [{\"path\": " + oauthmail::json::quote(argv[3]) + ", \"filename\": " +
            oauthmail::json::quote("Situație plăți [cpp] ăâîșț.txt") + "}]}";
        std::string result = client.send(token, message);
        std::cout << oauthmail::json::get_string(result, "message_id") << std::endl;
    } catch (const oauthmail::Error& e) {
        std::cerr << "failed: " << e.what() << " (hint: " << e.hint() << ")\n";
        for (auto& t : browsers) t.join();
        return 1;
    }
    for (auto& t : browsers) t.join();
    return 0;
}
