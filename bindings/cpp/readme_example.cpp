#define OAUTHMAIL_DYNAMIC  // load the library at the first call (without it: link -loauthmail)
#include <fstream>
#include <iostream>
#include <sstream>

#include "oauthmail.hpp"

int main() {
    try {
        std::stringstream config;
        config << std::ifstream("oauthmail.json").rdbuf();
        oauthmail::Client client(config.str());
        std::string token = client.authorize(oauthmail::AuthorizeOptions{"office@firma.ro"});  // opens the browser
        oauthmail::Message msg;
        msg.from = "Firma SRL <office@firma.ro>";
        msg.to = {"Ion Popescu <ion@example.ro>"};
        msg.subject = "Factură nr. 123 — scadență";
        msg.text = "Bună ziua, găsiți în atașament factura. Mulțumim, Ștefan Câmpeanu";
        msg.attach("factură-123.pdf");
        std::cout << client.send(token, msg).message_id << "\n";
    } catch (const oauthmail::Reauthorize&) {
        std::cerr << "the account must be authorized again\n";
        return 1;
    } catch (const std::exception& e) {  // oauthmail::Error, oauthmail::NotInstalled
        std::cerr << "sending failed: " << e.what() << "\n";
        return 1;
    }
}
