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
// needs the 32-bit DLL), liboauthmail.so / liboauthmail.dylib elsewhere, next to the executable or
// on the loader's search path.
using System;
using System.Collections.Generic;
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

    /// <summary>The raw C API, for calls the wrapper does not cover.</summary>
    public static class Native
    {
        public const string Library = "oauthmail";

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

        /// <summary>The library's version, e.g. "0.1.0".</summary>
        public static string Version { get { return Native.FromUtf8(Native.oauthmail_version()); } }

        /// <summary>The lowercase name of a status code; "unknown" for unknown values.</summary>
        public static string StatusName(uint status) { return Native.FromUtf8(Native.oauthmail_status_name(status)); }

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
