// OAuthMail.cs: liboauthmail for .NET Framework 4.5+, Mono and .NET Core / .NET 5+.
// One file, no dependencies; C# 7.
//
//   using (var client = new OAuthMail.OAuthMailClient(File.ReadAllText("oauthmail.json")))
//   {
//       string token = await client.AuthorizeAsync(new AuthorizeOptions { LoginHint = "office@firma.ro" }, ct);
//       var msg = new OAuthMailMessage { From = "office@firma.ro", Subject = "Factură", Text = "Bună ziua" };
//       msg.To.Add("ion@example.ro");
//       SendResult result = await client.SendAsync(token, msg, ct);
//   }
//
// Documents are JSON text (docs/API.md in the repository): the token is a string the host stores
// as it is; OAuthMailMessage builds the message document, SendResult reads the send result, and
// ClientSecrets.Load reads Google's client file. OAuthMailConfig builds a configuration (a token
// store with Store(path, protect), a Workspace service account with ServiceAccountFile), TokenRef
// makes the {"account"}/{"subject"} references that go wherever a token goes, StoreList/StoreRemove
// manage the store, Check/CheckAsync return a CheckResult, and the Progress event (or an
// IProgress<SendProgress> per send) reports uploads. Json.Quote / Json.GetString / Json.GetRaw /
// Json.Members help with the rest. A failed call throws OAuthMailException (Status, Code, StatusName, ErrorJson,
// Field, Hint, HintId); a library that cannot be loaded throws OAuthMailNotInstalledException.
// The *Async methods run the blocking call on a dedicated thread and end with the same exceptions;
// their CancellationToken calls oauthmail_cancel on the client.
//
// Interop rules this file follows (each one breaks real hosts when ignored):
// - CallingConvention.Cdecl on every import and callback delegate: the default (Winapi) is StdCall
//   on 32-bit Windows.
// - Strings cross as NUL-terminated UTF-8 built by hand (byte[] in, IntPtr out). The default string
//   marshalling uses the ANSI code page on Windows, and LPUTF8Str / Marshal.PtrToStringUTF8 do not
//   exist on .NET Framework before 4.7 / at all.
// - Returned strings are IntPtr released with oauthmail_string_free, never marshalled as string
//   (the marshaller would free them with CoTaskMemFree, on the wrong heap).
// - Callback delegates are kept referenced for the handle's whole life (the GC would otherwise
//   collect them while the library still holds the function pointer).
// - The handle is a SafeHandle: released exactly once, even without Dispose.
//
// Library file: oauthmail.dll on Windows (a 32-bit process, including AnyCPU with "Prefer 32-bit",
// needs the 32-bit DLL), liboauthmail.so / liboauthmail.dylib elsewhere. It is looked for (see
// NativeLoader) in <assembly dir>/runtimes/<rid>/native/ (the NuGet layout; rid win-x64, win-x86,
// linux-x64, ...), then in the assembly's directory, then wherever the runtime's own probing
// (deps.json, the loader's search path) finds it.
using System;
using System.Collections.Generic;
using System.IO;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace OAuthMail
{
    /// <summary>The status codes of the C API (oauthmail_status); the numbers are fixed.</summary>
    public enum Status : uint
    {
        Ok = 0,
        InvalidArgument = 1,
        Cancelled = 2,
        Timeout = 3,
        AccessDenied = 4,
        Reauthorize = 5,
        InsufficientScope = 6,
        AuthFailed = 7,
        Network = 8,
        Tls = 9,
        RateLimited = 10,
        Rejected = 11,
        Provider = 12,
        IO = 13,
        Internal = 14,
    }

    /// <summary>Log levels passed to the logger.</summary>
    public enum LogLevel : uint { Off = 0, Error = 1, Warn = 2, Info = 3, Debug = 4, Trace = 5 }

    /// <summary>A failed call, with the library's error document.</summary>
    [Serializable]
    public sealed class OAuthMailException : Exception
    {
        /// <summary>The status, e.g. Status.Reauthorize.</summary>
        public Status Status { get; private set; }
        /// <summary>The status number, e.g. 5.</summary>
        public uint Code { get { return (uint)Status; } }
        /// <summary>The status name, e.g. "reauthorize".</summary>
        public string StatusName { get; private set; }
        /// <summary>The error document: {"error": {"status", "code", "message", "hint", "field"?, ...}}.</summary>
        public string ErrorJson { get; private set; }
        /// <summary>The input the error is about ("config.client_id", "message.to[1]"), or null.</summary>
        public string Field { get; private set; }
        /// <summary>What the user or administrator should do.</summary>
        public string Hint { get; private set; }
        /// <summary>A stable id of the hint, where the library sends one; null otherwise.</summary>
        public string HintId { get; private set; }

        public OAuthMailException(Status status, string errorJson, Exception inner = null)
            : base(Describe(status, errorJson), inner)
        {
            Status = status;
            ErrorJson = errorJson ?? "";
            StatusName = Json.GetString(ErrorJson, "status") ?? NameOf(status);
            Field = Json.GetString(ErrorJson, "field");
            Hint = Json.GetString(ErrorJson, "hint") ?? "";
            HintId = Json.GetString(ErrorJson, "hint_id");
        }

        static readonly string[] Names = { "ok", "invalid_argument", "cancelled", "timeout", "access_denied",
            "reauthorize", "insufficient_scope", "auth_failed", "network", "tls", "rate_limited", "rejected",
            "provider", "io", "internal" };

        // The errors the binding raises itself never need the library.
        static string NameOf(Status status) { return (uint)status < Names.Length ? Names[(uint)status] : "unknown"; }

        static string Describe(Status status, string doc)
        {
            string text = (Json.GetString(doc ?? "", "status") ?? NameOf(status)) + " (" + (uint)status + "): " +
                          (Json.GetString(doc ?? "", "message") ?? "no details");
            string field = Json.GetString(doc ?? "", "field");
            return field != null ? text + " [field " + field + "]" : text;
        }

        internal static OAuthMailException Argument(string field, string message)
        {
            return new OAuthMailException(Status.InvalidArgument,
                "{\"error\": {\"status\": \"invalid_argument\", \"code\": 1, \"message\": " + Json.Quote(message) +
                ", \"hint\": \"Correct the input named in 'field' and call again.\", \"field\": " + Json.Quote(field) + "}}");
        }
    }


    /// <summary>The native library could not be loaded (missing, wrong bitness) or is too old.
    /// Thrown by the first call that needs it. A DllNotFoundException, so existing handlers still
    /// catch it.</summary>
    [Serializable]
    public sealed class OAuthMailNotInstalledException : DllNotFoundException
    {
        /// <summary>Where the library was looked for, in order.</summary>
        public string[] SearchedPaths { get; private set; }
        /// <summary>The version of a library that loaded but is too old; null otherwise.</summary>
        public string VersionFound { get; private set; }

        public OAuthMailNotInstalledException(string message, string[] searched, string versionFound, Exception inner)
            : base(message, inner)
        {
            SearchedPaths = searched;
            VersionFound = versionFound;
        }

        internal static OAuthMailNotInstalledException From(Exception e)
        {
            var searched = new List<string>(NativeLoader.Candidates());
            searched.Add(Native.Library + " (the runtime's own search: deps.json, the loader's path)");
            string version = null;
            if (e is EntryPointNotFoundException)
            {
                try { version = Native.FromUtf8(Native.oauthmail_version()); } catch (Exception) { }
                return new OAuthMailNotInstalledException("liboauthmail " + (version ?? "(unknown version)") +
                    " is too old for this binding (" + e.Message + ")", searched.ToArray(), version, e);
            }
            string why = e is BadImageFormatException ? " (a library was found but has the wrong bitness for this " +
                (IntPtr.Size * 8) + "-bit process)" : "";
            return new OAuthMailNotInstalledException("liboauthmail is not installed" + why + "; searched: " +
                string.Join("; ", searched.ToArray()), searched.ToArray(), null, e);
        }
    }

    /// <summary>Finds the native library before the first call into it. The runtime's own probing
    /// does not look in <c>runtimes/&lt;rid&gt;/native/</c> unless a deps.json says so (an
    /// application that is not published with .NET's SDK, .NET Framework, Mono), so this class
    /// looks there first, then in the assembly's directory:
    /// <list type="bullet">
    /// <item>.NET Core 3.0+ / .NET 5+: a <c>NativeLibrary.SetDllImportResolver</c> resolver (bound
    /// through reflection, so the file still compiles for .NET Framework); where none of the
    /// candidate files exists it returns nothing and the runtime's probing (deps.json included)
    /// decides.</item>
    /// <item>Mono: a dll map from "oauthmail" to the file found (<c>mono_dllmap_insert</c>, what an
    /// app.config &lt;dllmap&gt; does).</item>
    /// <item>.NET Framework on Windows: the file found is loaded with LoadLibraryEx by its full
    /// path; the DllImport then binds to that module, since Windows matches loaded modules by
    /// name.</item>
    /// </list>
    /// Runs once, from the static constructors of Native and OAuthMailClient; calling it again does
    /// nothing.</summary>
    public static class NativeLoader
    {
        static readonly object gate = new object();
        static bool done;
        static Func<string, IntPtr> nativeLibraryLoad;

        /// <summary>The file chosen by this loader, or null when the runtime's own probing decides.</summary>
        public static string LoadedFrom { get; private set; }

        /// <summary>The runtime identifier whose <c>runtimes/&lt;rid&gt;/native/</c> folder is searched
        /// (win-x64, win-x86, linux-x64, linux-x86, osx-x64, osx-arm64).</summary>
        public static string Rid
        {
            get
            {
                bool is64 = IntPtr.Size == 8;
                if (IsWindows) return is64 ? "win-x64" : "win-x86";
                if (IsMac) return is64 ? (IsArm64Mac() ? "osx-arm64" : "osx-x64") : "osx-x86";
                return is64 ? "linux-x64" : "linux-x86";
            }
        }

        static bool IsWindows
        {
            get
            {
                var p = Environment.OSVersion.Platform;
                return p == PlatformID.Win32NT || p == PlatformID.Win32Windows;
            }
        }

        static bool IsMac
        {
            get { return !IsWindows && Directory.Exists("/System/Library/CoreServices"); }
        }

        static bool IsArm64Mac()
        {
            // RuntimeInformation is not in .NET Framework 4.0; read it through reflection.
            var t = Type.GetType("System.Runtime.InteropServices.RuntimeInformation, System.Runtime.InteropServices.RuntimeInformation", false)
                    ?? Type.GetType("System.Runtime.InteropServices.RuntimeInformation", false);
            var prop = t != null ? t.GetProperty("ProcessArchitecture") : null;
            return prop != null && prop.GetValue(null, null).ToString() == "Arm64";
        }

        /// <summary>The library's file names on this platform, in the order they are tried.</summary>
        public static string[] FileNames
        {
            get
            {
                if (IsWindows) return new[] { "oauthmail.dll" };
                if (IsMac) return new[] { "liboauthmail.dylib" };
                return new[] { "liboauthmail.so", "liboauthmail.so.0" };
            }
        }

        /// <summary>The paths searched, in order: runtimes/&lt;rid&gt;/native/ under the assembly's
        /// directory, then the assembly's directory.</summary>
        public static string[] Candidates()
        {
            string dir = null;
            try { dir = Path.GetDirectoryName(typeof(NativeLoader).Assembly.Location); } catch (Exception) { }
            if (string.IsNullOrEmpty(dir)) dir = AppDomain.CurrentDomain.BaseDirectory;  // single-file / in-memory assemblies
            var list = new List<string>();
            foreach (string sub in new[] { Path.Combine(Path.Combine(Path.Combine(dir, "runtimes"), Rid), "native"), dir })
                foreach (string name in FileNames) list.Add(Path.Combine(sub, name));
            return list.ToArray();
        }

        static string FirstExisting()
        {
            foreach (string c in Candidates()) if (File.Exists(c)) return c;
            return null;
        }

        /// <summary>Sets up the lookup (once). Never throws: when nothing is found here, the first
        /// call fails as DllImport does (DllNotFoundException).</summary>
        public static void Ensure()
        {
            lock (gate)
            {
                if (done) return;
                done = true;
                try { Setup(); } catch (Exception) { /* the runtime's own probing still applies */ }
            }
        }

        static void Setup()
        {
            // .NET Core 3.0+ / .NET 5+.
            Type nl = Type.GetType("System.Runtime.InteropServices.NativeLibrary", false);
            Type resolverType = Type.GetType("System.Runtime.InteropServices.DllImportResolver", false);
            if (nl != null && resolverType != null)
            {
                MethodInfo load = nl.GetMethod("Load", new[] { typeof(string) });
                MethodInfo set = nl.GetMethod("SetDllImportResolver", new[] { typeof(Assembly), resolverType });
                if (load != null && set != null)
                {
                    nativeLibraryLoad = path => (IntPtr)load.Invoke(null, new object[] { path });
                    Delegate resolver = Delegate.CreateDelegate(resolverType,
                        typeof(NativeLoader).GetMethod("Resolve", BindingFlags.NonPublic | BindingFlags.Static));
                    set.Invoke(null, new object[] { typeof(NativeLoader).Assembly, resolver });
                    return;
                }
            }
            string found = FirstExisting();
            if (found == null) return;
            if (Type.GetType("Mono.Runtime", false) != null && !IsWindows)
            {
                MapForMono(found);
                LoadedFrom = found;
                return;
            }
            if (IsWindows && PreloadWindows(found)) LoadedFrom = found;
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        static bool PreloadWindows(string path)
        {
            const uint LOAD_WITH_ALTERED_SEARCH_PATH = 0x8;  // its own dependencies from its folder
            return LoadLibraryExW(path, IntPtr.Zero, LOAD_WITH_ALTERED_SEARCH_PATH) != IntPtr.Zero;
        }

        // Called by the runtime (.NET Core 3.0+) for every DllImport of this assembly.
        static IntPtr Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
        {
            if (libraryName != Native.Library) return IntPtr.Zero;
            string found = FirstExisting();
            if (found == null) return IntPtr.Zero;  // the default probing (deps.json, system) decides
            try
            {
                IntPtr h = nativeLibraryLoad(found);
                LoadedFrom = found;
                return h;
            }
            catch (Exception) { return IntPtr.Zero; }  // a wrong-bitness file: let the default probing report it
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        static void MapForMono(string path)
        {
            // mono_dllmap_insert(image = NULL (global), dll, func = NULL, tdll, tfunc = NULL)
            MonoDllMapInsert(IntPtr.Zero, Encoding.UTF8.GetBytes(Native.Library + "\0"), IntPtr.Zero,
                             Encoding.UTF8.GetBytes(path + "\0"), IntPtr.Zero);
        }

        [DllImport("__Internal", EntryPoint = "mono_dllmap_insert", CallingConvention = CallingConvention.Cdecl)]
        static extern void MonoDllMapInsert(IntPtr image, byte[] dll, IntPtr func, byte[] tdll, IntPtr tfunc);

        [DllImport("kernel32", CharSet = CharSet.Unicode, SetLastError = true)]
        static extern IntPtr LoadLibraryExW(string path, IntPtr file, uint flags);
    }

    /// <summary>The raw C API, for calls the wrapper does not cover.</summary>
    public static class Native
    {
        public const string Library = "oauthmail";

        // An explicit static constructor (no beforefieldinit): runs before the first call of any
        // import below, so the library is looked for where NativeLoader says.
        static Native() { NativeLoader.Ensure(); }

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        public delegate int UrlOpener(IntPtr userData, IntPtr url);

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        public delegate void Logger(IntPtr userData, uint level, IntPtr message);

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        public delegate int Progress(IntPtr userData, ulong bytesDone, ulong bytesTotal);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr oauthmail_version();
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern IntPtr oauthmail_status_name(uint status);
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern uint oauthmail_client_new(byte[] configJson, out ClientHandle client, out IntPtr outJson);
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern void oauthmail_client_free(IntPtr client);
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern uint oauthmail_client_set_url_opener(ClientHandle client, UrlOpener opener, IntPtr userData);
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern uint oauthmail_client_set_logger(ClientHandle client, Logger logger, IntPtr userData, uint maxLevel);
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern uint oauthmail_authorize(ClientHandle client, byte[] optionsJson, out IntPtr outJson);
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern uint oauthmail_refresh(ClientHandle client, byte[] tokenJson, out IntPtr outJson);
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern uint oauthmail_send(ClientHandle client, byte[] tokenJson, byte[] messageJson, out IntPtr outJson);
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern uint oauthmail_revoke(ClientHandle client, byte[] tokenJson, out IntPtr outJson);
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern void oauthmail_cancel(ClientHandle client);
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern uint oauthmail_client_set_progress(ClientHandle client, Progress progress, IntPtr userData);
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern uint oauthmail_check(ClientHandle client, byte[] tokenJson, out IntPtr outJson);
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern uint oauthmail_store_list(ClientHandle client, out IntPtr outJson);
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern uint oauthmail_store_remove(ClientHandle client, byte[] account, out IntPtr outJson);
        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        public static extern void oauthmail_string_free(IntPtr s);

        /// <summary>A string as NUL-terminated UTF-8 (null stays null, which the library reports
        /// as INVALID_ARGUMENT where a value is required).</summary>
        public static byte[] ToUtf8(string s)
        {
            if (s == null) return null;
            var bytes = new byte[Encoding.UTF8.GetByteCount(s) + 1];  // last byte stays 0
            Encoding.UTF8.GetBytes(s, 0, s.Length, bytes, 0);
            return bytes;
        }

        /// <summary>Decodes a NUL-terminated UTF-8 string the caller keeps ownership of.</summary>
        public static string FromUtf8(IntPtr p)
        {
            if (p == IntPtr.Zero) return null;
            int n = 0;
            while (Marshal.ReadByte(p, n) != 0) n++;
            var bytes = new byte[n];
            Marshal.Copy(p, bytes, 0, n);
            return Encoding.UTF8.GetString(bytes);
        }

        /// <summary>Decodes a library-owned string and releases it with oauthmail_string_free.</summary>
        public static string Take(IntPtr p)
        {
            try { return FromUtf8(p); }
            finally { if (p != IntPtr.Zero) oauthmail_string_free(p); }
        }
    }

    /// <summary>Owns an oauthmail_client* and the callbacks it points to.</summary>
    public sealed class ClientHandle : SafeHandle
    {
        // Every delegate ever registered on this handle: the library may still be running a
        // replaced logger on another thread, so none is released before the handle.
        internal readonly List<Delegate> Callbacks = new List<Delegate>();

        public ClientHandle() : base(IntPtr.Zero, true) { }

        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }

        protected override bool ReleaseHandle()
        {
            Native.oauthmail_client_free(handle);
            return true;
        }
    }

    /// <summary>One configuration (provider, client id, endpoints, ...), its connections and
    /// callbacks. Methods may be called from several threads at once; Cancel from any thread.
    /// Dispose must be the last call.</summary>
    public sealed class OAuthMailClient : IDisposable
    {
        readonly ClientHandle handle;
        [ThreadStatic] static Exception openerException;  // the url opener runs on the authorizing thread
        // The progress callback runs on the thread that called oauthmail_send: what a handler threw,
        // and the IProgress of the Send running on this thread.
        [ThreadStatic] static Exception progressException;
        [ThreadStatic] static IProgress<SendProgress> progressReporter;
        readonly object progressGate = new object();
        EventHandler<SendProgressEventArgs> progressHandlers;
        bool progressRegistered;

        static OAuthMailClient() { NativeLoader.Ensure(); }

        /// <summary>The library's version, e.g. "0.1.0".</summary>
        public static string Version
        {
            get
            {
                NativeLoader.Ensure();
                try { return VersionCore(); }
                catch (Exception e) when (IsLoadFailure(e)) { throw OAuthMailNotInstalledException.From(e); }
            }
        }

        static bool IsLoadFailure(Exception e)
        {
            return e is DllNotFoundException || e is EntryPointNotFoundException || e is BadImageFormatException;
        }

        // Mono binds a P/Invoke when it compiles the method that calls it, so the calls that may
        // come first live in methods of their own, compiled after NativeLoader.Ensure() ran.
        [MethodImpl(MethodImplOptions.NoInlining)]
        static string VersionCore() { return Native.FromUtf8(Native.oauthmail_version()); }

        [MethodImpl(MethodImplOptions.NoInlining)]
        static string StatusNameCore(uint status) { return Native.FromUtf8(Native.oauthmail_status_name(status)); }

        /// <summary>The lowercase name of a status code; "unknown" for unknown values.</summary>
        public static string StatusName(uint status)
        {
            NativeLoader.Ensure();
            try { return StatusNameCore(status); }
            catch (Exception e) when (IsLoadFailure(e)) { throw OAuthMailNotInstalledException.From(e); }
        }

        /// <summary>Creates a client; throws OAuthMailException (InvalidArgument + Field) for a bad
        /// configuration, OAuthMailNotInstalledException when the library cannot be loaded.</summary>
        public OAuthMailClient(string configJson)
        {
            byte[] config = Encode(configJson, "config", true);
            NativeLoader.Ensure();
            try { handle = Create(config); }
            catch (Exception e) when (IsLoadFailure(e)) { throw OAuthMailNotInstalledException.From(e); }
        }

        [MethodImpl(MethodImplOptions.NoInlining)]
        static ClientHandle Create(byte[] config)
        {
            IntPtr outJson;
            ClientHandle h;
            uint status = Native.oauthmail_client_new(config, out h, out outJson);
            string text = Native.Take(outJson);
            if (status != 0)
            {
                if (h != null) h.SetHandleAsInvalid();
                throw new OAuthMailException((Status)status, text);
            }
            return h;
        }

        static byte[] Encode(string s, string field, bool required)
        {
            if (s == null)
            {
                if (required) throw OAuthMailException.Argument(field, field + " is required");
                return null;
            }
            // C strings end at the first NUL: refuse rather than send a silently truncated document.
            if (s.IndexOf('\0') >= 0) throw OAuthMailException.Argument(field, field + " contains a NUL character");
            return Native.ToUtf8(s);
        }

        ClientHandle H
        {
            get
            {
                if (handle.IsClosed) throw OAuthMailException.Argument("client", "the client is disposed");
                return handle;
            }
        }

        static string Finish(uint status, IntPtr outJson)
        {
            string text = Native.Take(outJson);
            if (status != 0) throw new OAuthMailException((Status)status, text);
            return text;
        }

        /// <summary>Interactive authorization; returns the token document (it holds secrets).
        /// optionsJson may be null, or e.g. {"login_hint": "...", "open_browser": true}.</summary>
        public string Authorize(string optionsJson = null)
        {
            IntPtr outJson;
            openerException = null;
            uint status = Native.oauthmail_authorize(H, Encode(optionsJson, "options", false), out outJson);
            string text = Native.Take(outJson);
            if (status != 0) throw new OAuthMailException((Status)status, text, openerException);
            return text;
        }

        /// <summary>A fresh access token; returns the full new token document.</summary>
        public string Refresh(string tokenJson)
        {
            IntPtr outJson;
            uint status = Native.oauthmail_refresh(H, Encode(tokenJson, "token", true), out outJson);
            return Finish(status, outJson);
        }

        /// <summary>Sends one message; the result may carry a refreshed "token" to store.
        /// tokenJson is a token document or a reference (TokenRef.Account, TokenRef.Subject).</summary>
        public string Send(string tokenJson, string messageJson)
        {
            return Send(tokenJson, messageJson, null);
        }

        /// <summary>Send, with progress reported to progress (synchronously, on the sending
        /// thread; a System.Progress&lt;T&gt; posts it on to its SynchronizationContext).</summary>
        public string Send(string tokenJson, string messageJson, IProgress<SendProgress> progress)
        {
            ClientHandle h = H;
            byte[] token = Encode(tokenJson, "token", true), message = Encode(messageJson, "message", true);
            if (progress != null) EnsureProgress();
            IntPtr outJson;
            IProgress<SendProgress> outer = progressReporter;
            progressException = null;
            progressReporter = progress;
            uint status;
            Exception thrown;
            try { status = Native.oauthmail_send(h, token, message, out outJson); }
            finally
            {
                thrown = progressException;
                progressException = null;
                progressReporter = outer;
            }
            string text = Native.Take(outJson);
            // A handler that threw cancelled the send; when the data had all gone out already, the
            // message is delivered and the result stands (resending it would deliver it twice).
            if (status != 0) throw new OAuthMailException((Status)status, text, thrown);
            return text;
        }

        /// <summary>Sends a message built with OAuthMailMessage, reporting progress.</summary>
        public SendResult Send(string tokenJson, OAuthMailMessage message, IProgress<SendProgress> progress)
        {
            if (message == null) throw OAuthMailException.Argument("message", "message is required");
            return SendResult.Parse(Send(tokenJson, message.ToJson(), progress));
        }

        /// <summary>Upload progress of every send on this client, raised on the thread doing the
        /// send (for SendAsync its own thread: not the UI thread), at most about ten times a
        /// second, BytesDone never decreasing and last equal to BytesTotal. Setting e.Cancel
        /// cancels the send before its final data: it fails with Status.Cancelled and nothing is
        /// delivered. A handler that throws cancels it too; the exception is the
        /// OAuthMailException's InnerException. (The last report comes after all the data went
        /// out: cancelling or throwing then changes nothing, the message is delivered and the call
        /// succeeds.) Handlers must not call into this client.</summary>
        public event EventHandler<SendProgressEventArgs> Progress
        {
            add
            {
                EnsureProgress();
                lock (progressGate) progressHandlers += value;
            }
            remove { lock (progressGate) progressHandlers -= value; }
        }

        // Registers the native progress callback once; it stays for the handle's life (the
        // delegate is kept in handle.Callbacks) and does nothing without handlers or a reporter.
        void EnsureProgress()
        {
            lock (progressGate)
            {
                if (progressRegistered) return;
                Native.Progress trampoline = OnProgress;
                lock (handle.Callbacks) handle.Callbacks.Add(trampoline);
                Finish(Native.oauthmail_client_set_progress(H, trampoline, IntPtr.Zero), IntPtr.Zero);
                progressRegistered = true;
            }
        }

        int OnProgress(IntPtr userData, ulong bytesDone, ulong bytesTotal)
        {
            try
            {
                long done = (long)Math.Min(bytesDone, (ulong)long.MaxValue), total = (long)Math.Min(bytesTotal, (ulong)long.MaxValue);
                IProgress<SendProgress> reporter = progressReporter;
                if (reporter != null) reporter.Report(new SendProgress(done, total));
                EventHandler<SendProgressEventArgs> handlers;
                lock (progressGate) handlers = progressHandlers;
                if (handlers == null) return 0;
                var args = new SendProgressEventArgs(done, total);
                handlers(this, args);
                return args.Cancel ? 1 : 0;
            }
            catch (Exception e)
            {
                // Never unwind into the library: cancel, and rethrow after the call.
                if (progressException == null) progressException = e;
                return 1;
            }
        }

        /// <summary>A pre-flight check that sends nothing (configuration, DNS, TCP, TLS, the OAuth
        /// client; with a token also refresh, scopes and the transport). tokenJson may be null, a
        /// token document or a reference (TokenRef). A failed step is a result (Ok false, the
        /// step's Error), not an exception; bad input, a disposed client or Cancel (Cancel(), the
        /// CancellationToken of CheckAsync) throw OAuthMailException.</summary>
        public CheckResult Check(string tokenJson = null)
        {
            IntPtr outJson;
            uint status = Native.oauthmail_check(H, Encode(tokenJson, "token", false), out outJson);
            string text = Native.Take(outJson) ?? "";
            Dictionary<string, string> top = Json.Members(text);
            if (top == null || !top.ContainsKey("steps") || top.ContainsKey("error"))
                throw new OAuthMailException(status != 0 ? (Status)status : Status.Internal, text);
            CheckResult report = CheckResult.Parse(text);
            // Cancel is the caller's doing, not a finding about the set-up: raised, as everywhere.
            if ((Status)status == Status.Cancelled)
            {
                CheckStep failed = report.FailedStep;
                throw new OAuthMailException(Status.Cancelled, failed != null && failed.Error != null ? "{\"error\": " + failed.Error.Json + "}" : text);
            }
            return report;
        }

        /// <summary>Check on a thread of its own; ct cancels it (OAuthMailException Cancelled).</summary>
        public Task<CheckResult> CheckAsync(string tokenJson = null, CancellationToken ct = default(CancellationToken))
        {
            return Run(() => Check(tokenJson), ct);
        }

        /// <summary>The accounts in the token store ("store" in the configuration), ordered by
        /// account. Throws InvalidArgument (field config.store) without a store, IO when the
        /// store cannot be read.</summary>
        public IReadOnlyList<StoredAccount> StoreList()
        {
            IntPtr outJson;
            uint status = Native.oauthmail_store_list(H, out outJson);
            return StoredAccount.ParseList(Finish(status, outJson));
        }

        /// <summary>Removes an account from the token store (matched without regard to ASCII
        /// case); true when it was there. Nothing is revoked: Revoke(TokenRef.Account(..)) revokes
        /// and removes.</summary>
        public bool StoreRemove(string account)
        {
            IntPtr outJson;
            uint status = Native.oauthmail_store_remove(H, Encode(account, "account", true), out outJson);
            string text = Finish(status, outJson);
            return Json.GetRaw(text, "removed") == "true";
        }

        /// <summary>StoreList on a thread of its own.</summary>
        public Task<IReadOnlyList<StoredAccount>> StoreListAsync(CancellationToken ct = default(CancellationToken))
        {
            return Run(() => StoreList(), ct);
        }

        /// <summary>StoreRemove on a thread of its own; ct cancels the wait for the store's lock.</summary>
        public Task<bool> StoreRemoveAsync(string account, CancellationToken ct = default(CancellationToken))
        {
            return Run(() => StoreRemove(account), ct);
        }

        /// <summary>Revokes the grant at the provider.</summary>
        public string Revoke(string tokenJson)
        {
            IntPtr outJson;
            uint status = Native.oauthmail_revoke(H, Encode(tokenJson, "token", true), out outJson);
            return Finish(status, outJson);
        }

        /// <summary>Interactive authorization with typed options.</summary>
        public string Authorize(AuthorizeOptions options)
        {
            return Authorize(options != null ? options.ToJson() : null);
        }

        /// <summary>Sends a message built with OAuthMailMessage.</summary>
        public SendResult Send(string tokenJson, OAuthMailMessage message)
        {
            return Send(tokenJson, message, (IProgress<SendProgress>)null);
        }

        // Runs a blocking call on a thread of its own (it may wait minutes: not a pool thread),
        // with ct calling oauthmail_cancel on this client while the call runs. Other calls in
        // flight on the same client at that moment end too: the C API cancels per client, so give
        // independently cancellable operations their own client.
        Task<T> Run<T>(Func<T> call, CancellationToken ct)
        {
            var done = new TaskCompletionSource<T>();
            if (ct.IsCancellationRequested)
            {
                done.SetException(new OAuthMailException(Status.Cancelled,
                    "{\"error\": {\"status\": \"cancelled\", \"code\": 2, \"message\": \"the CancellationToken was cancelled before the call started\", \"hint\": \"Nothing was sent.\"}}"));
                return done.Task;
            }
            var thread = new Thread(() =>
            {
                T result = default(T);
                Exception error = null;
                try
                {
                    using (ct.Register(Cancel))
                        result = call();
                }
                catch (Exception e) { error = e; }
                // Completed from the thread pool: the caller's continuations (await) never run
                // on this background thread.
                ThreadPool.QueueUserWorkItem(_ =>
                {
                    if (error != null) done.TrySetException(error);
                    else done.TrySetResult(result);
                });
            });
            thread.IsBackground = true;
            thread.Name = "oauthmail call";
            thread.Start();
            return done.Task;
        }

        /// <summary>Authorize on a thread of its own; ct cancels it (OAuthMailException Cancelled).</summary>
        public Task<string> AuthorizeAsync(AuthorizeOptions options = null, CancellationToken ct = default(CancellationToken))
        {
            return Run(() => Authorize(options), ct);
        }

        /// <summary>Authorize with options as JSON text.</summary>
        public Task<string> AuthorizeAsync(string optionsJson, CancellationToken ct = default(CancellationToken))
        {
            return Run(() => Authorize(optionsJson), ct);
        }

        /// <summary>Refresh on a thread of its own; ct cancels it.</summary>
        public Task<string> RefreshAsync(string tokenJson, CancellationToken ct = default(CancellationToken))
        {
            return Run(() => Refresh(tokenJson), ct);
        }

        /// <summary>Send on a thread of its own; ct cancels it (then nothing is delivered, unless
        /// the error says the provider may already have the message).</summary>
        public Task<SendResult> SendAsync(string tokenJson, OAuthMailMessage message, CancellationToken ct = default(CancellationToken))
        {
            return Run(() => Send(tokenJson, message), ct);
        }

        /// <summary>Send a message document given as JSON text.</summary>
        public Task<string> SendAsync(string tokenJson, string messageJson, CancellationToken ct = default(CancellationToken))
        {
            return Run(() => Send(tokenJson, messageJson), ct);
        }

        /// <summary>SendAsync reporting upload progress to progress (called on the sending thread;
        /// System.Progress&lt;T&gt; created on the UI thread posts it there).</summary>
        public Task<SendResult> SendAsync(string tokenJson, OAuthMailMessage message, IProgress<SendProgress> progress,
                                          CancellationToken ct = default(CancellationToken))
        {
            return Run(() => Send(tokenJson, message, progress), ct);
        }

        /// <summary>Revoke on a thread of its own.</summary>
        public Task<string> RevokeAsync(string tokenJson, CancellationToken ct = default(CancellationToken))
        {
            return Run(() => Revoke(tokenJson), ct);
        }

        /// <summary>Makes the calls in flight on this client fail with Cancelled. Safe from any thread.</summary>
        public void Cancel()
        {
            if (!handle.IsClosed) Native.oauthmail_cancel(handle);
        }

        /// <summary>Opens the authorization URL instead of the system browser. Runs on the thread
        /// that called Authorize (for AuthorizeAsync: its own thread, not the UI thread) before the
        /// library answers the browser, so it must return promptly; returning false (or throwing)
        /// makes Authorize fail with Cancelled, the exception as InnerException. null restores the
        /// system browser.</summary>
        public void SetUrlOpener(Func<string, bool> opener)
        {
            uint status;
            if (opener == null)
            {
                status = Native.oauthmail_client_set_url_opener(H, null, IntPtr.Zero);
            }
            else
            {
                Native.UrlOpener trampoline = (userData, url) =>
                {
                    try { return opener(Native.FromUtf8(url)) ? 0 : 1; }
                    catch (Exception e) { openerException = e; return 1; }  // never unwind into the library
                };
                lock (handle.Callbacks) handle.Callbacks.Add(trampoline);
                status = Native.oauthmail_client_set_url_opener(H, trampoline, IntPtr.Zero);
            }
            Finish(status, IntPtr.Zero);
        }

        /// <summary>Log lines of level &lt;= maxLevel go to logger(level, message), possibly on
        /// other threads; no line holds a secret. null turns logging off.</summary>
        public void SetLogger(Action<LogLevel, string> logger, LogLevel maxLevel = LogLevel.Info)
        {
            uint status;
            if (logger == null)
            {
                status = Native.oauthmail_client_set_logger(H, null, IntPtr.Zero, 0);
            }
            else
            {
                Native.Logger trampoline = (userData, level, message) =>
                {
                    try { logger((LogLevel)level, Native.FromUtf8(message)); }
                    catch (Exception) { }  // never unwind into the library
                };
                lock (handle.Callbacks) handle.Callbacks.Add(trampoline);
                status = Native.oauthmail_client_set_logger(H, trampoline, IntPtr.Zero, (uint)maxLevel);
            }
            Finish(status, IntPtr.Zero);
        }

        /// <summary>The handle, for calls through OAuthMail.Native.</summary>
        public ClientHandle Handle { get { return handle; } }

        /// <summary>Releases the handle. No other thread may be inside a call on it.</summary>
        public void Dispose() { handle.Dispose(); }
    }

    /// <summary>Options of Authorize (docs/API.md, "Authorize options").</summary>
    public sealed class AuthorizeOptions
    {
        /// <summary>Preselects the account on the consent page.</summary>
        public string LoginHint { get; set; }
        /// <summary>false: only the url opener is used (default: the system browser when no opener is set).</summary>
        public bool? OpenBrowser { get; set; }

        public string ToJson()
        {
            var parts = new List<string>();
            if (LoginHint != null) parts.Add("\"login_hint\": " + Json.Quote(LoginHint));
            if (OpenBrowser.HasValue) parts.Add("\"open_browser\": " + (OpenBrowser.Value ? "true" : "false"));
            return "{" + string.Join(", ", parts.ToArray()) + "}";
        }
    }

    /// <summary>One attachment of an OAuthMailMessage: a file, or bytes.</summary>
    public sealed class OAuthMailAttachment
    {
        public string Path { get; set; }
        /// <summary>The name the recipient sees (default: the file's own name).</summary>
        public string FileName { get; set; }
        public string ContentType { get; set; }
        public byte[] Content { get; set; }
        /// <summary>Makes it an inline part that HTML refers to as cid:ContentId.</summary>
        public string ContentId { get; set; }
    }

    /// <summary>A message, like System.Net.Mail.MailMessage: addresses are "Name &lt;a@b&gt;" or
    /// "a@b"; ToJson() is the message document (docs/API.md, "Message document").</summary>
    public sealed class OAuthMailMessage
    {
        public string From { get; set; }
        public List<string> To { get; private set; }
        public List<string> Cc { get; private set; }
        public List<string> Bcc { get; private set; }
        public string ReplyTo { get; set; }
        public string Subject { get; set; }
        /// <summary>The plain-text body.</summary>
        public string Text { get; set; }
        /// <summary>The HTML body (with Text, the message is multipart/alternative).</summary>
        public string Html { get; set; }
        public List<OAuthMailAttachment> Attachments { get; private set; }
        public Dictionary<string, string> Headers { get; private set; }

        public OAuthMailMessage()
        {
            To = new List<string>();
            Cc = new List<string>();
            Bcc = new List<string>();
            Attachments = new List<OAuthMailAttachment>();
            Headers = new Dictionary<string, string>();
        }

        /// <summary>Attaches a file (read by the library when sending).</summary>
        public OAuthMailMessage AddAttachment(string path, string fileName = null, string contentType = null)
        {
            Attachments.Add(new OAuthMailAttachment { Path = path, FileName = fileName, ContentType = contentType });
            return this;
        }

        /// <summary>Attaches bytes under fileName.</summary>
        public OAuthMailMessage AddAttachment(string fileName, byte[] content, string contentType = null)
        {
            Attachments.Add(new OAuthMailAttachment { FileName = fileName, Content = content, ContentType = contentType });
            return this;
        }

        static string List(List<string> addresses)
        {
            var q = new List<string>();
            foreach (string a in addresses) if (!string.IsNullOrEmpty(a)) q.Add(Json.Quote(a));
            return "[" + string.Join(", ", q.ToArray()) + "]";
        }

        static void Member(StringBuilder sb, string name, string value)
        {
            if (value != null) sb.Append(", ").Append(Json.Quote(name)).Append(": ").Append(Json.Quote(value));
        }

        public string ToJson()
        {
            var sb = new StringBuilder("{\"from\": ").Append(Json.Quote(From ?? ""));
            sb.Append(", \"to\": ").Append(List(To));
            if (Cc.Count > 0) sb.Append(", \"cc\": ").Append(List(Cc));
            if (Bcc.Count > 0) sb.Append(", \"bcc\": ").Append(List(Bcc));
            Member(sb, "reply_to", ReplyTo);
            Member(sb, "subject", Subject ?? "");
            Member(sb, "text", Text);
            Member(sb, "html", Html);
            if (Attachments.Count > 0)
            {
                var parts = new List<string>();
                foreach (var a in Attachments)
                {
                    var p = new StringBuilder("{");
                    if (a.Path != null) p.Append("\"path\": ").Append(Json.Quote(a.Path));
                    if (a.Content != null)
                        p.Append(p.Length > 1 ? ", " : "").Append("\"content_base64\": ").Append(Json.Quote(Convert.ToBase64String(a.Content)));
                    if (a.FileName != null) p.Append(p.Length > 1 ? ", " : "").Append("\"filename\": ").Append(Json.Quote(a.FileName));
                    if (a.ContentType != null) p.Append(p.Length > 1 ? ", " : "").Append("\"content_type\": ").Append(Json.Quote(a.ContentType));
                    if (a.ContentId != null) p.Append(p.Length > 1 ? ", " : "").Append("\"content_id\": ").Append(Json.Quote(a.ContentId));
                    parts.Add(p.Append("}").ToString());
                }
                sb.Append(", \"attachments\": [").Append(string.Join(", ", parts.ToArray())).Append("]");
            }
            if (Headers.Count > 0)
            {
                var parts = new List<string>();
                foreach (var kv in Headers) parts.Add(Json.Quote(kv.Key) + ": " + Json.Quote(kv.Value));
                sb.Append(", \"headers\": {").Append(string.Join(", ", parts.ToArray())).Append("}");
            }
            return sb.Append("}").ToString();
        }
    }

    /// <summary>The result of a send (docs/API.md, "Send result").</summary>
    public sealed class SendResult
    {
        /// <summary>The sent message's Message-ID header.</summary>
        public string MessageId { get; private set; }
        public string Transport { get; private set; }
        /// <summary>The provider's id of the message, where it gives one.</summary>
        public string ProviderId { get; private set; }
        /// <summary>The refreshed token document when the send refreshed it (store it in place of
        /// the old one); null otherwise.</summary>
        public string Token { get; private set; }
        /// <summary>The whole result document.</summary>
        public string Json { get; private set; }

        public static SendResult Parse(string json)
        {
            string token = OAuthMail.Json.GetRaw(json, "token");
            return new SendResult
            {
                Json = json,
                MessageId = OAuthMail.Json.GetString(json, "message_id"),
                Transport = OAuthMail.Json.GetString(json, "transport"),
                ProviderId = OAuthMail.Json.GetString(json, "provider_id"),
                Token = token != null && token.StartsWith("{") ? token : null,
            };
        }
    }

    /// <summary>A token reference: the JSON text to pass wherever a token document goes (Send,
    /// Refresh, Revoke, Check and their Async forms).</summary>
    public static class TokenRef
    {
        /// <summary>{"account": email}: the token the client's store ("store" in the
        /// configuration) holds for that account (refreshed and written back under the store's
        /// lock). Revoke with it revokes and removes the entry.</summary>
        public static string Account(string email)
        {
            if (string.IsNullOrEmpty(email)) throw OAuthMailException.Argument("token.account", "an account email is required");
            return "{\"account\": " + Json.Quote(email) + "}";
        }

        /// <summary>{"subject": email}: with a service account ("service_account_file"), act as
        /// that user of the Workspace domain; no authorize, no refresh token.</summary>
        public static string Subject(string email)
        {
            if (string.IsNullOrEmpty(email)) throw OAuthMailException.Argument("token.subject", "a subject email is required");
            return "{\"subject\": " + Json.Quote(email) + "}";
        }
    }

    /// <summary>Upload progress of a send: BytesDone of BytesTotal bytes of the message data.</summary>
    public struct SendProgress
    {
        public SendProgress(long bytesDone, long bytesTotal) : this()
        {
            BytesDone = bytesDone;
            BytesTotal = bytesTotal;
        }

        public long BytesDone { get; private set; }
        public long BytesTotal { get; private set; }

        /// <summary>0 to 100.</summary>
        public int Percent { get { return BytesTotal > 0 ? (int)(BytesDone * 100 / BytesTotal) : 0; } }
    }

    /// <summary>The arguments of OAuthMailClient.Progress; set Cancel to cancel the send.</summary>
    public sealed class SendProgressEventArgs : EventArgs
    {
        public SendProgressEventArgs(long bytesDone, long bytesTotal)
        {
            BytesDone = bytesDone;
            BytesTotal = bytesTotal;
        }

        public long BytesDone { get; private set; }
        public long BytesTotal { get; private set; }
        /// <summary>true: the send stops before its final data, fails with Status.Cancelled and
        /// delivers nothing.</summary>
        public bool Cancel { get; set; }
    }

    /// <summary>An error object (the inner object of an error document, or a check step's error):
    /// the fields of OAuthMailException, without the throwing.</summary>
    public sealed class OAuthMailError
    {
        public Status Status { get; private set; }
        public uint Code { get { return (uint)Status; } }
        public string StatusName { get; private set; }
        public string Message { get; private set; }
        public string Hint { get; private set; }
        /// <summary>A stable id of the hint, or null.</summary>
        public string HintId { get; private set; }
        public string Field { get; private set; }
        /// <summary>The error object's JSON text.</summary>
        public string Json { get; private set; }

        public static OAuthMailError Parse(string json)
        {
            var m = OAuthMail.Json.Members(json) ?? new Dictionary<string, string>();
            uint code;
            string raw;
            m.TryGetValue("code", out raw);
            uint.TryParse(raw ?? "", out code);
            return new OAuthMailError
            {
                Json = json,
                Status = (Status)code,
                StatusName = Str(m, "status"),
                Message = Str(m, "message") ?? "",
                Hint = Str(m, "hint") ?? "",
                HintId = Str(m, "hint_id"),
                Field = Str(m, "field"),
            };
        }

        internal static string Str(Dictionary<string, string> m, string key)
        {
            string raw;
            return m.TryGetValue(key, out raw) ? OAuthMail.Json.AsString(raw) : null;
        }

        /// <summary>The exception a call would have thrown with this error.</summary>
        public OAuthMailException ToException()
        {
            return new OAuthMailException(Status, "{\"error\": " + Json + "}");
        }
    }

    /// <summary>One step of a check (docs: oauthmail_check): "config", "dns", "tcp", "tls",
    /// "client", "refresh", "scopes", "gmail_api", "smtp_ehlo", "smtp_auth".</summary>
    public sealed class CheckStep
    {
        public string Step { get; private set; }
        /// <summary>What the step looked at (a host:port, the token endpoint, ...).</summary>
        public string Target { get; private set; }
        public bool Ok { get; private set; }
        /// <summary>How long the step took, in milliseconds.</summary>
        public long Ms { get; private set; }
        /// <summary>One English line.</summary>
        public string Detail { get; private set; }
        /// <summary>Why the step failed (with Hint and HintId); null when it passed.</summary>
        public OAuthMailError Error { get; private set; }

        internal static CheckStep Parse(string json)
        {
            var m = Json.Members(json) ?? new Dictionary<string, string>();
            string raw;
            long ms = 0;
            if (m.TryGetValue("ms", out raw)) long.TryParse(raw, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out ms);
            OAuthMailError error = null;
            if (m.TryGetValue("error", out raw) && raw.StartsWith("{")) error = OAuthMailError.Parse(raw);
            return new CheckStep
            {
                Step = OAuthMailError.Str(m, "step"),
                Target = OAuthMailError.Str(m, "target"),
                Ok = m.TryGetValue("ok", out raw) && raw == "true",
                Ms = ms,
                Detail = OAuthMailError.Str(m, "detail"),
                Error = error,
            };
        }

        public override string ToString()
        {
            return (Ok ? "ok   " : "FAIL ") + Step + " " + Target + ": " + Detail;
        }
    }

    /// <summary>The report of Check: Ok when every step passed; otherwise the last step is the
    /// failed one (the check stops there) and FailedStep returns it.</summary>
    public sealed class CheckResult
    {
        public bool Ok { get; private set; }
        public IReadOnlyList<CheckStep> Steps { get; private set; }
        /// <summary>The whole report document.</summary>
        public string Json { get; private set; }

        /// <summary>The first step that failed, or null.</summary>
        public CheckStep FailedStep
        {
            get
            {
                foreach (var s in Steps) if (!s.Ok) return s;
                return null;
            }
        }

        public static CheckResult Parse(string json)
        {
            var m = OAuthMail.Json.Members(json);
            string raw;
            if (m == null || !m.TryGetValue("steps", out raw))
                throw OAuthMailException.Argument("report", "not a check report");
            var steps = new List<CheckStep>();
            foreach (string e in OAuthMail.Json.Elements(raw)) steps.Add(CheckStep.Parse(e));
            return new CheckResult
            {
                Json = json,
                Ok = m.TryGetValue("ok", out raw) && raw == "true",
                Steps = steps.AsReadOnly(),
            };
        }
    }

    /// <summary>An account in the token store (no secrets): times are null where the store does
    /// not know them.</summary>
    public sealed class StoredAccount
    {
        public string Account { get; private set; }
        public string Provider { get; private set; }
        public string Scope { get; private set; }
        public DateTimeOffset? AuthorizedAt { get; private set; }
        public DateTimeOffset? ExpiresAt { get; private set; }
        public DateTimeOffset? RefreshedAt { get; private set; }

        /// <summary>Reads {"accounts": [...]} (oauthmail_store_list).</summary>
        public static IReadOnlyList<StoredAccount> ParseList(string json)
        {
            var list = new List<StoredAccount>();
            var top = Json.Members(json);
            string raw;
            if (top == null || !top.TryGetValue("accounts", out raw))
                throw OAuthMailException.Argument("store", "not a store list");
            foreach (string e in Json.Elements(raw))
            {
                var m = Json.Members(e) ?? new Dictionary<string, string>();
                list.Add(new StoredAccount
                {
                    Account = OAuthMailError.Str(m, "account"),
                    Provider = OAuthMailError.Str(m, "provider"),
                    Scope = OAuthMailError.Str(m, "scope"),
                    AuthorizedAt = Time(m, "authorized_at"),
                    ExpiresAt = Time(m, "expires_at"),
                    RefreshedAt = Time(m, "refreshed_at"),
                });
            }
            return list.AsReadOnly();
        }

        static readonly DateTimeOffset Epoch = new DateTimeOffset(1970, 1, 1, 0, 0, 0, TimeSpan.Zero);

        static DateTimeOffset? Time(Dictionary<string, string> m, string key)
        {
            string raw;
            long seconds;
            if (!m.TryGetValue(key, out raw) || !long.TryParse(raw, System.Globalization.NumberStyles.Integer,
                System.Globalization.CultureInfo.InvariantCulture, out seconds)) return null;
            return Epoch.AddSeconds(seconds);
        }
    }

    /// <summary>How the token store file is protected: User / Machine (Windows DPAPI; User is
    /// the Windows default) or None (a plain file: protect it with file permissions; required
    /// elsewhere).</summary>
    public enum StoreProtection { User, Machine, None }

    /// <summary>Builds a client configuration (docs/API.md, "Client configuration"):
    /// <code>var config = new OAuthMailConfig { ClientId = "…", ClientSecret = "…" }
    ///     .Store(@"C:\ProgramData\Firma\tokens.json", StoreProtection.Machine);
    /// using (var client = new OAuthMailClient(config.ToJson())) …</code></summary>
    public sealed class OAuthMailConfig
    {
        public OAuthMailConfig()
        {
            Provider = "google";
            Scopes = new List<string>();
        }

        /// <summary>"google" (default), "microsoft" or "custom".</summary>
        public string Provider { get; set; }
        public string ClientId { get; set; }
        public string ClientSecret { get; set; }
        /// <summary>Microsoft only: "common", "organizations" or the tenant id.</summary>
        public string Tenant { get; set; }
        /// <summary>"gmail_api", "smtp" or "graph"; null: the provider's default.</summary>
        public string Transport { get; set; }
        /// <summary>Empty: what the provider and transport need.</summary>
        public List<string> Scopes { get; private set; }
        /// <summary>The token store's file; null: no store.</summary>
        public string StorePath { get; set; }
        /// <summary>The store's protection; null: the platform's default (Windows: User).</summary>
        public StoreProtection? StoreProtect { get; set; }
        /// <summary>A Google Workspace service account's key file (domain-wide delegation): no
        /// ClientId, no authorize; tokens are TokenRef.Subject("user@domain").</summary>
        public string ServiceAccountFile { get; set; }
        /// <summary>More members as JSON text, e.g. "\"timeouts\": {\"io_s\": 30}".</summary>
        public string ExtraMembers { get; set; }

        /// <summary>Sets the token store (fluent).</summary>
        public OAuthMailConfig Store(string path, StoreProtection? protect = null)
        {
            StorePath = path;
            StoreProtect = protect;
            return this;
        }

        public string ToJson()
        {
            var sb = new StringBuilder("{\"provider\": ").Append(Json.Quote(Provider ?? "google"));
            if (ClientId != null) sb.Append(", \"client_id\": ").Append(Json.Quote(ClientId));
            if (ClientSecret != null) sb.Append(", \"client_secret\": ").Append(Json.Quote(ClientSecret));
            if (Tenant != null) sb.Append(", \"tenant\": ").Append(Json.Quote(Tenant));
            if (Transport != null) sb.Append(", \"transport\": ").Append(Json.Quote(Transport));
            if (Scopes.Count > 0)
            {
                var q = new List<string>();
                foreach (string sc in Scopes) q.Add(Json.Quote(sc));
                sb.Append(", \"scopes\": [").Append(string.Join(", ", q.ToArray())).Append("]");
            }
            if (ServiceAccountFile != null) sb.Append(", \"service_account_file\": ").Append(Json.Quote(ServiceAccountFile));
            if (StorePath != null)
            {
                sb.Append(", \"store\": {\"path\": ").Append(Json.Quote(StorePath));
                if (StoreProtect.HasValue) sb.Append(", \"protect\": ").Append(Json.Quote(StoreProtect.Value.ToString().ToLowerInvariant()));
                sb.Append("}");
            }
            if (!string.IsNullOrEmpty(ExtraMembers)) sb.Append(", ").Append(ExtraMembers);
            return sb.Append("}").ToString();
        }

        public override string ToString() { return ToJson(); }
    }

    /// <summary>A Google service account's key file (Cloud console > IAM > Service accounts >
    /// Keys > JSON), read to check it and name it; the private key stays in the file, which the
    /// library reads itself.</summary>
    public sealed class ServiceAccountKey
    {
        /// <summary>The full path of the key file.</summary>
        public string Path { get; private set; }
        public string ClientEmail { get; private set; }
        /// <summary>The numeric client id the Workspace administrator enters under Domain-wide delegation.</summary>
        public string ClientId { get; private set; }
        public string ProjectId { get; private set; }

        /// <summary>Reads the file; throws OAuthMailException (IO, or InvalidArgument with field
        /// service_account_file when it is not a service account key).</summary>
        public static ServiceAccountKey Load(string path)
        {
            string text;
            try { text = File.ReadAllText(path, Encoding.UTF8); }
            catch (Exception e)
            {
                throw new OAuthMailException(Status.IO, "{\"error\": {\"status\": \"io\", \"code\": 13, \"message\": " +
                    Json.Quote("the service account key file " + path + " could not be read: " + e.Message) +
                    ", \"hint\": \"Create a JSON key for the service account and pass its path.\", \"field\": \"service_account_file\"}}", e);
            }
            var m = Json.Members(text);
            if (m == null || OAuthMailError.Str(m, "type") != "service_account" || string.IsNullOrEmpty(OAuthMailError.Str(m, "client_email")))
                throw OAuthMailException.Argument("service_account_file", path + " is not a service account key (type \"service_account\" with client_email)");
            return new ServiceAccountKey
            {
                Path = System.IO.Path.GetFullPath(path),
                ClientEmail = OAuthMailError.Str(m, "client_email"),
                ClientId = OAuthMailError.Str(m, "client_id"),
                ProjectId = OAuthMailError.Str(m, "project_id"),
            };
        }

        /// <summary>A configuration that uses this key (transport: "gmail_api" or "smtp", null: default).</summary>
        public OAuthMailConfig ToConfig(string transport = null)
        {
            return new OAuthMailConfig { ServiceAccountFile = Path, Transport = transport };
        }
    }

    /// <summary>The OAuth client of a Google Cloud project, as downloaded from the console
    /// (client_secret_….apps.googleusercontent.com.json: {"installed": {"client_id", "client_secret", ...}}).</summary>
    public sealed class ClientSecrets
    {
        public string ClientId { get; set; }
        public string ClientSecret { get; set; }

        /// <summary>Reads the file; throws OAuthMailException (IO, or InvalidArgument naming the
        /// file when it holds no client_id).</summary>
        public static ClientSecrets Load(string path)
        {
            string text;
            try { text = File.ReadAllText(path, Encoding.UTF8); }
            catch (Exception e)
            {
                throw new OAuthMailException(Status.IO, "{\"error\": {\"status\": \"io\", \"code\": 13, \"message\": " +
                    OAuthMail.Json.Quote("the client secrets file " + path + " could not be read: " + e.Message) +
                    ", \"hint\": \"Download the OAuth client's JSON file again and pass its path.\", \"field\": \"client_secrets\"}}", e);
            }
            var secrets = new ClientSecrets
            {
                ClientId = OAuthMail.Json.GetString(text, "client_id"),
                ClientSecret = OAuthMail.Json.GetString(text, "client_secret"),
            };
            if (string.IsNullOrEmpty(secrets.ClientId))
                throw OAuthMailException.Argument("client_secrets", path + " has no client_id");
            return secrets;
        }

        /// <summary>A configuration builder for these credentials.</summary>
        public OAuthMailConfig ToConfig(string provider = "google")
        {
            return new OAuthMailConfig { Provider = provider, ClientId = ClientId, ClientSecret = ClientSecret };
        }

        /// <summary>A client configuration for these credentials (docs/API.md, "Client
        /// configuration"); extraMembers is JSON text of more members, e.g. "\"transport\": \"smtp\"".</summary>
        public string ToConfigJson(string provider = "google", string extraMembers = null)
        {
            var sb = new StringBuilder("{\"provider\": ").Append(OAuthMail.Json.Quote(provider));
            sb.Append(", \"client_id\": ").Append(OAuthMail.Json.Quote(ClientId ?? ""));
            if (ClientSecret != null) sb.Append(", \"client_secret\": ").Append(OAuthMail.Json.Quote(ClientSecret));
            if (!string.IsNullOrEmpty(extraMembers)) sb.Append(", ").Append(extraMembers);
            return sb.Append("}").ToString();
        }
    }

    /// <summary>Minimal JSON helpers: enough to build message documents and read result fields.</summary>
    public static class Json
    {
        /// <summary>s as a JSON string literal, quotes included.</summary>
        public static string Quote(string s)
        {
            var sb = new StringBuilder(s.Length + 2);
            sb.Append('"');
            foreach (char c in s)
            {
                switch (c)
                {
                    case '"': sb.Append("\\\""); break;
                    case '\\': sb.Append("\\\\"); break;
                    case '\n': sb.Append("\\n"); break;
                    case '\r': sb.Append("\\r"); break;
                    case '\t': sb.Append("\\t"); break;
                    default:
                        if (c < 0x20) sb.Append("\\u").Append(((int)c).ToString("x4"));
                        else sb.Append(c);
                        break;
                }
            }
            return sb.Append('"').ToString();
        }

        /// <summary>The string value of the first member named key anywhere in doc (keys inside
        /// string values never match), or null. Meant for the flat documents this library returns.</summary>
        public static string GetString(string doc, string key)
        {
            int i = 0;
            while (i < doc.Length)
            {
                if (doc[i] != '"') { i++; continue; }
                string s = ReadString(doc, ref i);
                if (s == null) return null;
                int j = SkipSpace(doc, i);
                if (j < doc.Length && doc[j] == ':' && s == key)
                {
                    j = SkipSpace(doc, j + 1);
                    return j < doc.Length && doc[j] == '"' ? ReadString(doc, ref j) : null;
                }
            }
            return null;
        }

        /// <summary>The JSON text of the value of the first member named key anywhere in doc (an
        /// object, an array, a string with its quotes, a number or literal), or null.</summary>
        public static string GetRaw(string doc, string key)
        {
            int i = 0;
            while (i < doc.Length)
            {
                if (doc[i] != '"') { i++; continue; }
                string s = ReadString(doc, ref i);
                if (s == null) return null;
                int j = SkipSpace(doc, i);
                if (j < doc.Length && doc[j] == ':' && s == key)
                {
                    j = SkipSpace(doc, j + 1);
                    int end = SkipValue(doc, j);
                    return end > j ? doc.Substring(j, end - j) : null;
                }
            }
            return null;
        }

        /// <summary>The members of the JSON object text obj (name to raw value text), or null when
        /// obj is not an object.</summary>
        public static Dictionary<string, string> Members(string obj)
        {
            if (obj == null) return null;
            int i = SkipSpace(obj, 0);
            if (i >= obj.Length || obj[i] != '{') return null;
            var members = new Dictionary<string, string>();
            i = SkipSpace(obj, i + 1);
            if (i < obj.Length && obj[i] == '}') return members;
            while (i < obj.Length)
            {
                if (obj[i] != '"') return null;
                string name = ReadString(obj, ref i);
                if (name == null) return null;
                i = SkipSpace(obj, i);
                if (i >= obj.Length || obj[i] != ':') return null;
                i = SkipSpace(obj, i + 1);
                int end = SkipValue(obj, i);
                if (end <= i) return null;
                members[name] = obj.Substring(i, end - i);
                i = SkipSpace(obj, end);
                if (i < obj.Length && obj[i] == ',') { i = SkipSpace(obj, i + 1); continue; }
                return i < obj.Length && obj[i] == '}' ? members : null;
            }
            return null;
        }

        /// <summary>The elements of the JSON array text array (raw value texts); empty when it is
        /// not an array.</summary>
        public static List<string> Elements(string array)
        {
            var list = new List<string>();
            if (array == null) return list;
            int i = SkipSpace(array, 0);
            if (i >= array.Length || array[i] != '[') return list;
            i = SkipSpace(array, i + 1);
            while (i < array.Length && array[i] != ']')
            {
                int end = SkipValue(array, i);
                if (end <= i) return new List<string>();
                list.Add(array.Substring(i, end - i));
                i = SkipSpace(array, end);
                if (i < array.Length && array[i] == ',') i = SkipSpace(array, i + 1);
            }
            return list;
        }

        /// <summary>The string a raw JSON value holds (""a\u0219"" is "aș"), or null when it is
        /// not a string (null, a number, ...).</summary>
        public static string AsString(string raw)
        {
            if (raw == null || raw.Length < 2 || raw[0] != '"') return null;
            int i = 0;
            return ReadString(raw, ref i);
        }

        // The end (exclusive) of the value starting at doc[j], or j when malformed.
        static int SkipValue(string doc, int j)
        {
            if (j >= doc.Length) return j;
            if (doc[j] == '"') { int k = j; return ReadString(doc, ref k) != null ? k : j; }
            if (doc[j] != '{' && doc[j] != '[')
            {
                int k = j;
                while (k < doc.Length && ",}] \n\r\t".IndexOf(doc[k]) < 0) k++;
                return k;
            }
            int depth = 0;
            for (int k = j; k < doc.Length; k++)
            {
                char c = doc[k];
                if (c == '"') { if (ReadString(doc, ref k) == null) return j; k--; continue; }
                if (c == '{' || c == '[') depth++;
                else if ((c == '}' || c == ']') && --depth == 0) return k + 1;
            }
            return j;
        }

        static int SkipSpace(string doc, int j)
        {
            while (j < doc.Length && (doc[j] == ' ' || doc[j] == '\n' || doc[j] == '\r' || doc[j] == '\t')) j++;
            return j;
        }

        // doc[i] == '"'; returns the decoded string and leaves i past the closing quote (null if malformed).
        static string ReadString(string doc, ref int i)
        {
            var sb = new StringBuilder();
            for (i++; i < doc.Length; i++)
            {
                char c = doc[i];
                if (c == '"') { i++; return sb.ToString(); }
                if (c != '\\') { sb.Append(c); continue; }
                if (++i >= doc.Length) return null;
                switch (doc[i])
                {
                    case 'n': sb.Append('\n'); break;
                    case 'r': sb.Append('\r'); break;
                    case 't': sb.Append('\t'); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case 'u':
                        if (i + 4 >= doc.Length) return null;
                        sb.Append((char)Convert.ToInt32(doc.Substring(i + 1, 4), 16));  // UTF-16 units: surrogates pair up by themselves
                        i += 4;
                        break;
                    default: sb.Append(doc[i]); break;
                }
            }
            return null;
        }
    }
}
