// Authorize a Gmail account and send a message with an attachment (C#, OAuthMail.cs), through
// AuthorizeAsync/SendAsync and the OAuthMailMessage builder.
//
//   Example.exe CONFIG.json LOGIN_HINT ATTACHMENT_PATH
//
// Without OAUTHMAIL_HEADLESS_CA the system browser opens the consent page. With
// OAUTHMAIL_HEADLESS_CA=ca.pem (the local Google stand-in, --auto-approve) the url opener has curl
// fetch the consent URL in the background and follow its redirect to the library's loopback
// listener, as a browser would. Prints the sent message's Message-ID.
using System;
using System.Diagnostics;
using System.IO;
using System.Text;
using OAuthMail;

static class Example
{
    static int Main(string[] args)
    {
        if (args.Length != 3)
        {
            Console.Error.WriteLine("usage: Example.exe CONFIG.json LOGIN_HINT ATTACHMENT_PATH");
            return 2;
        }
        try
        {
            using (var client = new OAuthMailClient(File.ReadAllText(args[0], Encoding.UTF8)))
            {
                client.SetLogger((level, line) => Console.Error.WriteLine("[log " + level + "] " + line));
                string ca = Environment.GetEnvironmentVariable("OAUTHMAIL_HEADLESS_CA");
                if (!string.IsNullOrEmpty(ca))
                {
                    // Called on the authorizing thread before the library listens for the redirect:
                    // start the "browser" and return at once.
                    client.SetUrlOpener(url =>
                    {
                        var psi = new ProcessStartInfo("curl", "-s -o /dev/null -L --max-time 20 --cacert \"" + ca + "\" \"" + url + "\"");
                        psi.UseShellExecute = false;
                        Process.Start(psi);
                        return true;
                    });
                }
                var options = new AuthorizeOptions { LoginHint = args[1] };
                string token = client.AuthorizeAsync(options).GetAwaiter().GetResult();
                // Store `token` protected (it holds the refresh token); here it is used at once.
                var message = new OAuthMailMessage
                {
                    From = "Firma SRL <" + Json.GetString(token, "email") + ">",
                    Subject = "Factură nr. 123 [csharp] — ă â î ș ț Ă Â Î Ș Ț",
                    Text = "Bună ziua,\n\nvă trimitem factura în atașament: ă â î ș ț.\n",
                };
                message.To.Add("Ion Popescu <ion@example.ro>");
                message.AddAttachment(args[2], "Situație plăți [csharp] ăâîșț.txt");
                SendResult result = client.SendAsync(token, message).GetAwaiter().GetResult();
                Console.WriteLine(result.MessageId);
                return 0;
            }
        }
        catch (OAuthMailException e)
        {
            Console.Error.WriteLine("failed: " + e.Message + " (hint: " + e.Hint + ")");
            return 1;
        }
    }
}
