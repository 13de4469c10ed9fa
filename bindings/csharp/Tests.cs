// Tests of the C# binding (compiled with Mono's mcs, run with mono; the same source builds for
// net48 and net8.0). `Tests.exe basic` runs the tests that need only the library; `Tests.exe` also
// runs those against the local Google stand-in (--auto-approve), configured by the environment:
// OAUTHMAIL_TEST_CONFIG (client configuration file), OAUTHMAIL_TEST_USER, OAUTHMAIL_TEST_CA.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using OAuthMail;

static class Tests
{
    static int failures, checks;

    static void Check(bool cond, string what)
    {
        checks++;
        if (!cond) { failures++; Console.Error.WriteLine("  CHECK FAILED: " + what); }
    }

    static void Run(string name, Action test)
    {
        int before = failures;
        try { test(); }
        catch (Exception e) { failures++; Console.Error.WriteLine("  unexpected " + e.GetType().Name + ": " + e.Message); }
        Console.WriteLine((failures == before ? "ok   " : "FAIL ") + name);
    }

    // Waits for a task that must fault with an OAuthMailException; null (and a failed check) otherwise.
    static OAuthMailException ExpectAsyncError<T>(System.Threading.Tasks.Task<T> task, int ms)
    {
        try
        {
            if (!task.Wait(ms)) { Check(false, "the task did not end within " + ms + " ms"); return null; }
            Check(false, "the task succeeded");
        }
        catch (AggregateException ae) when (ae.InnerException is OAuthMailException)
        {
            return (OAuthMailException)ae.InnerException;
        }
        return null;
    }

    static string Get(string url)
    {
        var req = (System.Net.HttpWebRequest)System.Net.WebRequest.Create(url);
        using (var r = req.GetResponse())
        using (var reader = new StreamReader(r.GetResponseStream(), Encoding.UTF8))
            return reader.ReadToEnd();
    }

    static void Post(string url, string json)
    {
        var req = (System.Net.HttpWebRequest)System.Net.WebRequest.Create(url);
        req.Method = "POST";
        req.ContentType = "application/json";
        byte[] body = Encoding.UTF8.GetBytes(json);
        using (var s = req.GetRequestStream()) s.Write(body, 0, body.Length);
        using (var r = req.GetResponse()) { }
    }

    static OAuthMailException ExpectError(Action a)
    {
        try { a(); }
        catch (OAuthMailException e) { return e; }
        throw new Exception("expected an OAuthMailException");
    }

    static string Env(string name)
    {
        string v = Environment.GetEnvironmentVariable(name);
        if (string.IsNullOrEmpty(v)) throw new Exception(name + " is not set (run scripts/test.d/50-bindings.sh)");
        return v;
    }

    const string GoodConfig = "{\"provider\": \"google\", \"client_id\": \"id\", \"client_secret\": \"s\"}";

    static void Basic()
    {
        Run("version matches the header", () =>
        {
            string header = File.ReadAllText(Path.Combine(Env("OAUTHMAIL_REPO"), "include/oauthmail.h"));
            Check(header.Contains("#define OAUTHMAIL_VERSION_STRING \"" + OAuthMailClient.Version + "\""), "version " + OAuthMailClient.Version);
        });

        Run("status names follow the contract", () =>
        {
            string[] names = { "ok", "invalid_argument", "cancelled", "timeout", "access_denied", "reauthorize",
                               "insufficient_scope", "auth_failed", "network", "tls", "rate_limited", "rejected",
                               "provider", "io", "internal" };
            for (uint i = 0; i < names.Length; i++) Check(OAuthMailClient.StatusName(i) == names[i], names[i]);
            Check(OAuthMailClient.StatusName(4242) == "unknown", "unknown");
            Check((uint)Status.Internal == 14, "enum values");
        });

        Run("empty client_id throws INVALID_ARGUMENT naming config.client_id", () =>
        {
            var e = ExpectError(() => new OAuthMailClient("{\"provider\": \"google\", \"client_id\": \"\", \"client_secret\": \"s\"}"));
            Check(e.Status == Status.InvalidArgument && e.Code == 1, "status");
            Check(e.StatusName == "invalid_argument", "name");
            Check(e.Field == "config.client_id", "field " + e.Field);
            Check(Json.GetString(e.ErrorJson, "status") == "invalid_argument", "document");
            Check(e.Hint.Length > 0 && e.Message.Contains("config.client_id"), "message " + e.Message);
        });

        Run("unknown field with diacritics comes back as UTF-8", () =>
        {
            var e = ExpectError(() => new OAuthMailClient("{\"provider\": \"google\", \"client_id\": \"x\", \"câmp_ș\": 1}"));
            Check(e.Status == Status.InvalidArgument, "status");
            Check(e.Field == "config.câmp_ș", "field " + e.Field);
        });

        Run("NULL config is INVALID_ARGUMENT from the C API", () =>
        {
            ClientHandle h;
            IntPtr outJson;
            uint st = Native.oauthmail_client_new(null, out h, out outJson);
            string doc = Native.Take(outJson);
            Check(st == 1, "status " + st);
            Check(h.IsInvalid, "no handle");
            Check(Json.GetString(doc, "field") == "config", "field");
            var e = ExpectError(() => new OAuthMailClient(null));
            Check(e.Status == Status.InvalidArgument && e.Field == "config", "binding refuses null");
        });

        Run("invalid UTF-8 config is INVALID_ARGUMENT naming config", () =>
        {
            ClientHandle h;
            IntPtr outJson;
            byte[] bad = Encoding.ASCII.GetBytes("{\"provider\": \"google\", \"client_id\": \"?\"}\0");
            bad[37] = 0xff;
            uint st = Native.oauthmail_client_new(bad, out h, out outJson);
            string doc = Native.Take(outJson);
            Check(st == 1 && Json.GetString(doc, "field") == "config", "status " + st + " " + doc);
            Check(Json.GetString(doc, "message").Contains("UTF-8"), "message");
        });

        Run("embedded NUL is refused, not truncated", () =>
        {
            var e = ExpectError(() => new OAuthMailClient("{\"provider\": \"google\", \"client_id\": \"x\0\"}"));
            Check(e.Status == Status.InvalidArgument && e.Field == "config", "field " + e.Field);
        });

        Run("callbacks register, reset and survive garbage collection", () =>
        {
            using (var c = new OAuthMailClient(GoodConfig))
            {
                c.SetUrlOpener(url => true);
                c.SetLogger((level, line) => { }, LogLevel.Trace);
                c.SetUrlOpener(null);
                c.SetLogger(null);
                c.SetLogger((level, line) => { }, LogLevel.Trace);
                GC.Collect();
                GC.WaitForPendingFinalizers();
                c.Cancel();  // nothing in flight: harmless
            }
        });

        Run("disposed client throws; Dispose twice is harmless", () =>
        {
            var c = new OAuthMailClient(GoodConfig);
            c.Dispose();
            c.Dispose();
            c.Cancel();
            var e = ExpectError(() => c.Refresh("{}"));
            Check(e.Field == "client", "field " + e.Field);
        });

        Run("OAuthMailMessage.ToJson, AuthorizeOptions, SendResult.Parse, Json.GetRaw", () =>
        {
            var m = new OAuthMailMessage { From = "a@b.ro", Subject = "ș\"\\", Html = "<p>ț</p>" };
            m.To.Add("Ion \"Nelu\" Popescu <ion@example.ro>");
            m.To.Add("");
            m.Cc.Add("c@d.ro");
            m.Headers["X-Document-Id"] = "123";
            m.AddAttachment(@"C:\Facturi\123.pdf").AddAttachment("date ă.csv", Encoding.UTF8.GetBytes("a;ă"), "text/csv");
            string j = m.ToJson();
            Check(j == "{\"from\": \"a@b.ro\", \"to\": [\"Ion \\\"Nelu\\\" Popescu <ion@example.ro>\"], \"cc\": [\"c@d.ro\"], " +
                "\"subject\": \"ș\\\"\\\\\", \"html\": \"<p>ț</p>\", \"attachments\": [{\"path\": \"C:\\\\Facturi\\\\123.pdf\"}, " +
                "{\"content_base64\": \"YTvEgw==\", \"filename\": \"date ă.csv\", \"content_type\": \"text/csv\"}], " +
                "\"headers\": {\"X-Document-Id\": \"123\"}}", "message json " + j);
            Check(new AuthorizeOptions { LoginHint = "x@y.ro", OpenBrowser = false }.ToJson() ==
                "{\"login_hint\": \"x@y.ro\", \"open_browser\": false}", "options");
            var r = SendResult.Parse("{\"message_id\": \"<1@x>\", \"transport\": \"gmail_api\", " +
                "\"token\": {\"email\": \"e@x\", \"scope\": \"a \\\"}\\\" b\", \"expires_at\": 1}}");
            Check(r.MessageId == "<1@x>" && r.Transport == "gmail_api" && r.ProviderId == null, "send result");
            Check(r.Token == "{\"email\": \"e@x\", \"scope\": \"a \\\"}\\\" b\", \"expires_at\": 1}", "token " + r.Token);
            Check(SendResult.Parse("{\"message_id\": \"<2@x>\"}").Token == null, "no token");
            Check(Json.GetRaw("{\"a\": [1, {\"b\": 2}], \"c\": 3}", "a") == "[1, {\"b\": 2}]", "raw array");
            Check(Json.GetRaw("{\"a\": 1}", "c") == null, "raw missing");
        });

        Run("ClientSecrets.Load reads Google's client file", () =>
        {
            string path = Path.Combine(Path.GetTempPath(), "client_secret_cs_test.json");
            File.WriteAllText(path, "{\"installed\": {\"client_id\": \"123-abc.apps.googleusercontent.com\", " +
                "\"project_id\": \"p\", \"client_secret\": \"GOCSPX-test\"}}", new UTF8Encoding(true));
            var cs = ClientSecrets.Load(path);
            File.Delete(path);
            Check(cs.ClientId == "123-abc.apps.googleusercontent.com" && cs.ClientSecret == "GOCSPX-test", "values");
            Check(cs.ToConfigJson("google", "\"transport\": \"smtp\"") == "{\"provider\": \"google\", " +
                "\"client_id\": \"123-abc.apps.googleusercontent.com\", \"client_secret\": \"GOCSPX-test\", \"transport\": \"smtp\"}", "config");
            using (new OAuthMailClient(cs.ToConfigJson())) { }
            var e = ExpectError(() => ClientSecrets.Load(path));
            Check(e.Status == Status.IO && e.Field == "client_secrets", "missing file: " + e.Status);
        });

        Run("errors carry HintId when the library sends one (null until then)", () =>
        {
            var e = ExpectError(() => new OAuthMailClient("{\"provider\": \"google\", \"client_id\": \"\"}"));
            Check(e.HintId == Json.GetString(e.ErrorJson, "hint_id"), "hint_id");
            var f = new OAuthMailException(Status.RateLimited, "{\"error\": {\"status\": \"rate_limited\", \"code\": 10, " +
                "\"message\": \"m\", \"hint\": \"h\", \"hint_id\": \"rate-limited\"}}");
            Check(f.HintId == "rate-limited" && f.StatusName == "rate_limited", "from document");
        });

        Run("json helpers quote and read back escapes and non-ASCII", () =>
        {
            string s = "a\"b\\c\nd\u0001 ș 📧";
            string doc = "{\"k\": " + Json.Quote(s) + ", \"u\": \"\\u0219\\ud83d\\udce7\", \"n\": 1}";
            Check(Json.GetString(doc, "k") == s, "k");
            Check(Json.GetString(doc, "u") == "ș📧", "u");
            Check(Json.GetString(doc, "n") == null, "n");
        });
    }

    // A headless "browser": curl follows the stand-in's redirect to the loopback listener.
    static Process Follow(string url, string ca)
    {
        var psi = new ProcessStartInfo("curl", "-s -o /dev/null -L --max-time 20 --cacert \"" + ca + "\" \"" + url + "\"");
        psi.UseShellExecute = false;
        return Process.Start(psi);
    }

    static void Standin()
    {
        string config = File.ReadAllText(Env("OAUTHMAIL_TEST_CONFIG"), Encoding.UTF8);
        string user = Env("OAUTHMAIL_TEST_USER"), ca = Env("OAUTHMAIL_TEST_CA");
        string options = "{\"login_hint\": " + Json.Quote(user) + "}";

        Run("callbacks run off the main thread while authorize runs on a worker", () =>
        {
            int mainThread = Thread.CurrentThread.ManagedThreadId;
            var openerThreads = new List<int>();
            var loggerThreads = new HashSet<int>();
            using (var c = new OAuthMailClient(config))
            {
                c.SetUrlOpener(url =>
                {
                    lock (openerThreads) openerThreads.Add(Thread.CurrentThread.ManagedThreadId);
                    Follow(url, ca);
                    return true;
                });
                c.SetLogger((level, line) => { lock (loggerThreads) loggerThreads.Add(Thread.CurrentThread.ManagedThreadId); }, LogLevel.Trace);
                string token = null;
                Exception error = null;
                var worker = new Thread(() =>
                {
                    try { token = c.Authorize(options); }
                    catch (Exception e) { error = e; }
                });
                worker.Start();
                GC.Collect();  // the delegates must survive a collection while the library holds them
                Check(worker.Join(30000), "authorize returned within 30 s");
                Check(error == null, "authorize: " + error);
                Check(Json.GetString(token ?? "", "email") == user, "email");
                // Once, on the thread that called Authorize (docs/API.md): the worker, never the main thread.
                Check(openerThreads.Count == 1 && openerThreads[0] == worker.ManagedThreadId, "opener called once, on the authorizing thread");
                Check(worker.ManagedThreadId != mainThread, "worker is not main");
                Check(loggerThreads.Count > 0 && !loggerThreads.Contains(mainThread), "logger called off the main thread");
                string refreshed = c.Refresh(token);
                Check(Json.GetString(refreshed, "refresh_token") == Json.GetString(token, "refresh_token"), "refresh keeps the refresh token");
            }
        });

        Run("cancel from another thread ends a waiting authorize", () =>
        {
            using (var c = new OAuthMailClient(config))
            using (var opened = new ManualResetEvent(false))
            {
                c.SetUrlOpener(url => { opened.Set(); return true; });  // nobody ever approves
                OAuthMailException error = null;
                var worker = new Thread(() =>
                {
                    try { c.Authorize(options); }
                    catch (OAuthMailException e) { error = e; }
                });
                worker.Start();
                Check(opened.WaitOne(20000), "the url opener was called");
                Thread.Sleep(300);
                var sw = Stopwatch.StartNew();
                c.Cancel();
                Check(worker.Join(10000), "authorize returned after cancel");
                Check(sw.ElapsedMilliseconds < 5000, "promptly");
                Check(error != null && error.Status == Status.Cancelled, "cancelled");
            }
        });

        Run("AuthorizeAsync + SendAsync with the message builder; RefreshAsync", () =>
        {
            using (var c = new OAuthMailClient(config))
            {
                c.SetUrlOpener(url => { Follow(url, ca); return true; });
                // A delegate that throws on a library thread: contained, the calls go on.
                c.SetLogger((level, line) => { throw new InvalidOperationException("logger broke"); }, LogLevel.Trace);
                string token = c.AuthorizeAsync(new AuthorizeOptions { LoginHint = user }).Result;
                Check(Json.GetString(token, "email") == user, "email");
                var m = new OAuthMailMessage { From = user, Subject = "async ș ț", Text = "ă â î" };
                m.To.Add("ion@example.ro");
                SendResult r = c.SendAsync(token, m).Result;
                Check(r.MessageId != null && r.MessageId.StartsWith("<") && r.Transport == "gmail_api", "sent " + r.Json);
                string refreshed = c.RefreshAsync(token).Result;
                Check(Json.GetString(refreshed, "refresh_token") == Json.GetString(token, "refresh_token"), "refreshed");
            }
        });

        Run("a CancellationToken ends AuthorizeAsync with Cancelled", () =>
        {
            using (var c = new OAuthMailClient(config))
            using (var opened = new ManualResetEvent(false))
            using (var cts = new CancellationTokenSource())
            {
                int mainThread = Thread.CurrentThread.ManagedThreadId, openerThread = 0;
                c.SetUrlOpener(url => { openerThread = Thread.CurrentThread.ManagedThreadId; opened.Set(); return true; });
                var task = c.AuthorizeAsync(new AuthorizeOptions { LoginHint = user }, cts.Token);
                Check(opened.WaitOne(20000), "the url opener was called");
                Check(openerThread != mainThread && openerThread != 0, "on AuthorizeAsync's own thread, not the caller's");
                Thread.Sleep(300);
                var sw = Stopwatch.StartNew();
                cts.Cancel();
                var e = ExpectAsyncError(task, 10000);
                Check(sw.ElapsedMilliseconds < 5000, "promptly: " + sw.ElapsedMilliseconds + " ms");
                Check(e != null && e.Status == Status.Cancelled, "cancelled");
                // An already cancelled token: the call does not start.
                var again = ExpectAsyncError(c.AuthorizeAsync((string)null, cts.Token), 1000);
                Check(again != null && again.Status == Status.Cancelled, "cancelled before start");
            }
        });

        Run("a CancellationToken ends SendAsync with Cancelled and nothing is delivered", () =>
        {
            string control = Env("OAUTHMAIL_TEST_CONTROL"), mailbox = Env("OAUTHMAIL_TEST_MAILBOX");
            using (var c = new OAuthMailClient(config))
            using (var cts = new CancellationTokenSource())
            {
                c.SetUrlOpener(url => { Follow(url, ca); return true; });
                string token = c.Authorize(options);
                // The stand-in reads the next Gmail send and never answers.
                Post(control + "/faults", "{\"endpoint\": \"gmail_send\", \"kind\": \"hang\", \"count\": 1}");
                string marker = "cancel-" + Guid.NewGuid().ToString("N");
                var m = new OAuthMailMessage { From = user, Subject = marker, Text = "nu trebuie livrat: ș" };
                m.To.Add("ion@example.ro");
                var task = c.SendAsync(token, m, cts.Token);
                // Cancel once the stand-in holds the request (its fault is used up), bounded.
                var waited = Stopwatch.StartNew();
                while (Get(control + "/faults").Contains("\"hang\"") && waited.ElapsedMilliseconds < 15000) Thread.Sleep(50);
                Check(!Get(control + "/faults").Contains("\"hang\""), "the stand-in received the send");
                Thread.Sleep(200);
                Check(!task.IsCompleted, "the send is waiting");
                var sw = Stopwatch.StartNew();
                cts.Cancel();
                var e = ExpectAsyncError(task, 10000);
                Check(sw.ElapsedMilliseconds < 5000, "promptly: " + sw.ElapsedMilliseconds + " ms");
                Check(e != null && e.Status == Status.Cancelled, "cancelled");
                Thread.Sleep(500);
                foreach (string f in Directory.GetFiles(mailbox, "*.eml"))
                    Check(!File.ReadAllText(f).Contains(marker), "delivered anyway: " + f);
                // The client still works afterwards.
                var ok = new OAuthMailMessage { From = user, Subject = "după anulare", Text = "ț" };
                ok.To.Add("ion@example.ro");
                Check(c.Send(token, ok).MessageId != null, "a later send works");
            }
        });

        Run("a url opener that throws makes Authorize fail with Cancelled and the cause", () =>
        {
            using (var c = new OAuthMailClient(config))
            {
                c.SetUrlOpener(url => { throw new InvalidOperationException("no browser here"); });
                var e = ExpectError(() => c.Authorize(options));
                Check(e.Status == Status.Cancelled, "status " + e.Status);
                Check(e.InnerException is InvalidOperationException, "inner exception");
            }
        });

        Run("invalid recipient throws INVALID_ARGUMENT naming message.to[1]", () =>
        {
            using (var c = new OAuthMailClient(config))
            {
                c.SetUrlOpener(url => { Follow(url, ca); return true; });
                string token = c.Authorize(options);
                var e = ExpectError(() => c.Send(token, "{\"from\": " + Json.Quote(user) +
                    ", \"to\": [\"ion@example.ro\", \"not an address\"], \"subject\": \"x\", \"text\": \"y\"}"));
                Check(e.Status == Status.InvalidArgument && e.Field == "message.to[1]", "field " + e.Field);
            }
        });
    }

    static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "where")
        {
            // Used by 50-bindings.sh to check NativeLoader's lookup from a copied layout. A client
            // comes first: its constructor must not bind the library before the lookup ran.
            using (new OAuthMailClient(GoodConfig)) { }
            Console.WriteLine(OAuthMailClient.Version);
            Console.WriteLine(NativeLoader.LoadedFrom ?? "(runtime probing)");
            return 0;
        }
        Basic();
        if (!(args.Length > 0 && args[0] == "basic"))
        {
            try { Standin(); }
            catch (Exception e) { failures++; Console.Error.WriteLine("stand-in tests: " + e.Message); }
        }
        Console.WriteLine("csharp: " + checks + " checks, " + failures + " failed");
        return failures == 0 ? 0 : 1;
    }
}
