using System;
using System.IO;
using System.Threading.Tasks;
using OAuthMail;

static class SendInvoice
{
    static int Main() { return Run().GetAwaiter().GetResult(); }   // C# 7.1+: async Task<int> Main

    static async Task<int> Run()
    {
        try
        {
            using (var client = new OAuthMailClient(File.ReadAllText("oauthmail.json")))
            {
                string token = await client.AuthorizeAsync(new AuthorizeOptions { LoginHint = "office@firma.ro" });
                var msg = new OAuthMailMessage
                {
                    From = "Firma SRL <office@firma.ro>",
                    Subject = "Factură nr. 123 — scadență",
                    Text = "Bună ziua, găsiți în atașament factura. Mulțumim, Ștefan Câmpeanu",
                };
                msg.To.Add("Ion Popescu <ion@example.ro>");
                msg.AddAttachment("factură-123.pdf");
                SendResult result = await client.SendAsync(token, msg);
                Console.WriteLine(result.MessageId);
                return 0;
            }
        }
        catch (Exception e) when (e is OAuthMailException || e is OAuthMailNotInstalledException)
        {
            Console.Error.WriteLine("sending failed: " + e.Message);
            return 1;
        }
    }
}
