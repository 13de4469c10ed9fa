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
                // Once, and (API.md) possibly on a thread other than the caller's: never the main one here.
                Check(openerThreads.Count == 1 && openerThreads[0] != mainThread, "opener called once, off the main thread");
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
