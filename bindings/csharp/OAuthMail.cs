// OAuthMail.cs: liboauthmail for .NET Framework 4.x (including 4.0), Mono and .NET Core / .NET 5+.
// One file, no dependencies; C# 7.
//
//   using (var client = new OAuthMail.OAuthMailClient(configJson))
//   {
//       string token = client.Authorize("{\"login_hint\": \"office@firma.ro\"}");  // opens the browser
//       string result = client.Send(token, messageJson);
//   }
//
// Documents are JSON text in and out (see API.md); OAuthMail.Json.Quote / Json.GetString help to
// build and read them without a JSON library. A failed call throws OAuthMailException (Status,
// Code, StatusName, ErrorJson, Field, Hint).
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

        public OAuthMailException(Status status, string errorJson, Exception inner = null)
            : base(Describe(status, errorJson), inner)
        {
            Status = status;
            ErrorJson = errorJson ?? "";
            StatusName = OAuthMailClient.StatusName((uint)status);
            Field = Json.GetString(ErrorJson, "field");
            Hint = Json.GetString(ErrorJson, "hint") ?? "";
        }

        static string Describe(Status status, string doc)
        {
            string text = OAuthMailClient.StatusName((uint)status) + " (" + (uint)status + "): " +
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
        Exception openerException;

        static OAuthMailClient() { NativeLoader.Ensure(); }

        /// <summary>The library's version, e.g. "0.1.0".</summary>
        public static string Version { get { NativeLoader.Ensure(); return VersionCore(); } }

        // Mono binds a P/Invoke when it compiles the method that calls it, so the calls that may
        // come first live in methods of their own, compiled after NativeLoader.Ensure() ran.
        [MethodImpl(MethodImplOptions.NoInlining)]
        static string VersionCore() { return Native.FromUtf8(Native.oauthmail_version()); }

        [MethodImpl(MethodImplOptions.NoInlining)]
        static string StatusNameCore(uint status) { return Native.FromUtf8(Native.oauthmail_status_name(status)); }

        /// <summary>The lowercase name of a status code; "unknown" for unknown values.</summary>
        public static string StatusName(uint status) { NativeLoader.Ensure(); return StatusNameCore(status); }

        /// <summary>Creates a client; throws OAuthMailException (InvalidArgument + Field) for a bad configuration.</summary>
        public OAuthMailClient(string configJson)
        {
            IntPtr outJson;
            ClientHandle h;
            uint status = Native.oauthmail_client_new(Encode(configJson, "config", true), out h, out outJson);
            string text = Native.Take(outJson);
            if (status != 0)
            {
                if (h != null) h.SetHandleAsInvalid();
                throw new OAuthMailException((Status)status, text);
            }
            handle = h;
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

        /// <summary>Sends one message; the result may carry a refreshed "token" to store.</summary>
        public string Send(string tokenJson, string messageJson)
        {
            IntPtr outJson;
            uint status = Native.oauthmail_send(H, Encode(tokenJson, "token", true), Encode(messageJson, "message", true), out outJson);
            return Finish(status, outJson);
        }

        /// <summary>Revokes the grant at the provider.</summary>
        public string Revoke(string tokenJson)
        {
            IntPtr outJson;
            uint status = Native.oauthmail_revoke(H, Encode(tokenJson, "token", true), out outJson);
            return Finish(status, outJson);
        }

        /// <summary>Makes the calls in flight on this client fail with Cancelled. Safe from any thread.</summary>
        public void Cancel()
        {
            if (!handle.IsClosed) Native.oauthmail_cancel(handle);
        }

        /// <summary>Opens the authorization URL instead of the system browser. Runs on the
        /// authorizing thread before the library waits for the redirect, so it must return
        /// promptly; returning false (or throwing) makes Authorize fail with Cancelled.
        /// null restores the system browser.</summary>
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
