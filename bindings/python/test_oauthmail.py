#!/usr/bin/env python3
"""Tests of the Python binding. The `Basic` tests need only the library; the `Standin` tests need
the local Google stand-in (started with --auto-approve), configured by the environment:
OAUTHMAIL_TEST_CONFIG (client configuration file), OAUTHMAIL_TEST_USER (a test user's email),
OAUTHMAIL_TEST_CA (the stand-in's CA file); scripts/test.d/50-bindings.sh sets them. Run: python3 -m unittest -v test_oauthmail
"""
import ctypes
import json
import os
import re
import ssl
import threading
import time
import unittest
import urllib.request

import oauthmail

HERE = os.path.dirname(os.path.abspath(__file__))
HEADER = os.path.join(HERE, "..", "..", "include", "oauthmail.h")


class Basic(unittest.TestCase):
    def test_version_matches_the_header(self):
        with open(HEADER, encoding="utf-8") as f:
            header_version = re.search(r'#define OAUTHMAIL_VERSION_STRING "([^"]+)"', f.read()).group(1)
        self.assertEqual(oauthmail.version(), header_version)

    def test_library_is_loaded_with_cdll_not_pydll(self):
        # PyDLL keeps the GIL during calls: callbacks from library threads would deadlock.
        lib = oauthmail.load_library()
        self.assertIsInstance(lib, ctypes.CDLL)
        self.assertNotIsInstance(lib, ctypes.PyDLL)
        self.assertFalse(lib._func_flags_ & ctypes._FUNCFLAG_PYTHONAPI)

    def test_status_names_follow_the_contract(self):
        names = ["ok", "invalid_argument", "cancelled", "timeout", "access_denied", "reauthorize",
                 "insufficient_scope", "auth_failed", "network", "tls", "rate_limited", "rejected",
                 "provider", "io", "internal"]
        self.assertEqual([oauthmail.status_name(i) for i in range(15)], names)
        self.assertEqual(oauthmail.status_name(4242), "unknown")
        self.assertEqual(oauthmail.REAUTHORIZE, 5)

    def test_empty_client_id_raises_invalid_argument_naming_the_field(self):
        with self.assertRaises(oauthmail.OAuthMailError) as cm:
            oauthmail.Client({"provider": "google", "client_id": "", "client_secret": "s"})
        e = cm.exception
        self.assertEqual((e.status, e.name, e.field), (oauthmail.INVALID_ARGUMENT, "invalid_argument", "config.client_id"))
        self.assertEqual(e.document["error"]["code"], 1)
        self.assertTrue(e.message and e.hint)

    def test_unknown_field_with_diacritics_comes_back_as_utf8(self):
        with self.assertRaises(oauthmail.OAuthMailError) as cm:
            oauthmail.Client('{"provider": "google", "client_id": "x", "câmp_ș": 1}')
        self.assertEqual(cm.exception.field, "config.câmp_ș")
        self.assertIn("câmp_ș", cm.exception.json)

    def test_null_config_is_invalid_argument_from_the_library(self):
        lib = oauthmail.load_library()
        handle = ctypes.POINTER(oauthmail._Client)()
        out = ctypes.c_void_p()
        status = lib.oauthmail_client_new(None, ctypes.byref(handle), ctypes.byref(out))
        doc = json.loads(oauthmail._take(lib, out))
        self.assertEqual(status, oauthmail.INVALID_ARGUMENT)
        self.assertFalse(handle)
        self.assertEqual(doc["error"]["field"], "config")

    def test_missing_config_is_refused_by_the_binding(self):
        with self.assertRaises(oauthmail.OAuthMailError) as cm:
            oauthmail.Client(None)
        self.assertEqual((cm.exception.status, cm.exception.field), (oauthmail.INVALID_ARGUMENT, "config"))

    def test_invalid_utf8_config_is_invalid_argument(self):
        with self.assertRaises(oauthmail.OAuthMailError) as cm:
            oauthmail.Client(b'{"provider": "google", "client_id": "\xff"}')
        self.assertEqual((cm.exception.status, cm.exception.field), (oauthmail.INVALID_ARGUMENT, "config"))
        self.assertIn("UTF-8", cm.exception.message)

    def test_embedded_nul_is_refused_not_truncated(self):
        with self.assertRaises(oauthmail.OAuthMailError) as cm:
            oauthmail.Client('{"provider": "google", "client_id": "x\0"}')
        self.assertEqual((cm.exception.status, cm.exception.field), (oauthmail.INVALID_ARGUMENT, "config"))

    def test_each_status_has_its_exception_class_under_oauthmail_error(self):
        classes = [oauthmail.error_class(i) for i in range(1, 15)]
        self.assertEqual(len(set(classes)), 14)
        for status, cls in zip(range(1, 15), classes):
            self.assertTrue(issubclass(cls, oauthmail.OAuthMailError), cls)
            self.assertIs(oauthmail.ERRORS[status], cls)
        self.assertIs(oauthmail.error_class(oauthmail.REAUTHORIZE), oauthmail.ReauthorizeError)
        self.assertIs(oauthmail.error_class(oauthmail.INSUFFICIENT_SCOPE), oauthmail.InsufficientScopeError)
        self.assertIs(oauthmail.error_class(oauthmail.NETWORK), oauthmail.NetworkError)
        self.assertIs(oauthmail.error_class(oauthmail.TIMEOUT), oauthmail.OAuthMailTimeoutError)
        self.assertIs(oauthmail.error_class(4242), oauthmail.OAuthMailError)  # statuses added later
        # The built-in families a Python program already catches.
        self.assertTrue(issubclass(oauthmail.OAuthMailTimeoutError, TimeoutError))
        self.assertTrue(issubclass(oauthmail.NetworkError, ConnectionError))
        self.assertTrue(issubclass(oauthmail.InvalidArgumentError, ValueError))

    def test_error_attributes_come_from_the_document_hint_id_is_none_until_sent(self):
        doc = {"error": {"status": "rate_limited", "code": 10, "message": "slow down", "hint": "wait",
                         "retry_after_s": 30, "provider": {"http_status": 429}}}
        e = oauthmail.error_class(10)(10, json.dumps(doc))
        self.assertIsInstance(e, oauthmail.RateLimitedError)
        self.assertEqual((e.status, e.name, e.message, e.hint, e.retry_after_s), (10, "rate_limited", "slow down", "wait", 30))
        self.assertIsNone(e.hint_id)
        self.assertIsNone(e.field)
        self.assertEqual(e.provider, {"http_status": 429})
        doc["error"]["hint_id"] = "rate-limited"
        self.assertEqual(oauthmail.RateLimitedError(10, json.dumps(doc)).hint_id, "rate-limited")

    def test_library_errors_raise_the_subclass_with_status_hint_and_field(self):
        with self.assertRaises(oauthmail.InvalidArgumentError) as cm:
            oauthmail.Client({"provider": "google", "client_id": "", "client_secret": "s"})
        e = cm.exception
        self.assertIsInstance(e, ValueError)
        self.assertEqual((e.status, e.field), (oauthmail.INVALID_ARGUMENT, "config.client_id"))
        self.assertTrue(e.hint)
        self.assertEqual(e.hint_id, e.document["error"].get("hint_id"))

    def test_a_missing_library_raises_not_installed_with_the_paths_searched(self):
        missing = os.path.join(HERE, "no-such-dir", "liboauthmail.so")
        with self.assertRaises(oauthmail.NotInstalledError) as cm:
            oauthmail.load_library(missing)
        self.assertIsInstance(cm.exception, OSError)
        self.assertEqual(len(cm.exception.searched), 1)
        self.assertIn(missing, cm.exception.searched[0])
        self.assertIn("not installed", str(cm.exception))
        self.assertIsNone(cm.exception.version_found)
        self.assertEqual(oauthmail.version(), oauthmail.load_library().oauthmail_version().decode())  # still loaded

    def test_load_config_reads_a_utf8_file(self):
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "oauthmail.json")
            with open(path, "w", encoding="utf-8") as f:
                f.write('{"provider": "google", "client_id": "id-ș", "client_secret": "s"}')
            self.assertEqual(oauthmail.load_config(path)["client_id"], "id-ș")
            with open(path, "w", encoding="utf-8") as f:
                f.write("[1]")
            with self.assertRaises(oauthmail.InvalidArgumentError):
                oauthmail.load_config(path)

    def test_callbacks_register_and_reset_and_close_is_idempotent(self):
        with oauthmail.Client({"provider": "google", "client_id": "id", "client_secret": "s"}) as c:
            c.set_url_opener(lambda url: True)
            c.set_logger(lambda level, line: None, oauthmail.LOG_TRACE)
            c.set_url_opener(None)
            c.set_logger(None)
            c.cancel()  # nothing in flight: harmless
        c.close()
        with self.assertRaises(oauthmail.OAuthMailError) as cm:
            c.refresh({})
        self.assertEqual(cm.exception.field, "client")


def standin():
    names = ("OAUTHMAIL_TEST_CONFIG", "OAUTHMAIL_TEST_USER", "OAUTHMAIL_TEST_CA")
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        raise AssertionError(f"{', '.join(missing)} not set (run scripts/test.d/50-bindings.sh)")
    with open(os.environ["OAUTHMAIL_TEST_CONFIG"], encoding="utf-8") as f:
        return f.read(), os.environ["OAUTHMAIL_TEST_USER"], os.environ["OAUTHMAIL_TEST_CA"]


def follow(url, ca_file):
    """What a browser does on the stand-in's auto-approve page: follow the redirect home."""
    with urllib.request.urlopen(url, context=ssl.create_default_context(cafile=ca_file), timeout=20) as r:
        r.read()


class Standin(unittest.TestCase):
    def setUp(self):
        self.config, self.user, self.ca = standin()

    def test_callbacks_run_off_the_main_thread_while_authorize_runs_on_a_worker(self):
        main_thread = threading.get_ident()
        seen = {"opener": [], "logger": set()}
        result = {}
        with oauthmail.Client(self.config) as c:
            def opener(url):
                seen["opener"].append(threading.get_ident())
                threading.Thread(target=follow, args=(url, self.ca), daemon=True).start()
                return True

            c.set_url_opener(opener)
            c.set_logger(lambda level, line: seen["logger"].add(threading.get_ident()), oauthmail.LOG_TRACE)

            def work():
                try:
                    result["token"] = c.authorize({"login_hint": self.user})
                except Exception as e:  # reported below
                    result["error"] = e

            t = threading.Thread(target=work)
            t.start()
            t.join(30)
            self.assertFalse(t.is_alive(), "authorize did not return within 30 s")
            self.assertNotIn("error", result)
            token = result["token"]
            self.assertEqual(token["email"], self.user)
            # Once, on the thread that called authorize (docs/API.md): the worker, never the main thread.
            self.assertEqual(len(seen["opener"]), 1)
            self.assertNotEqual(seen["opener"][0], main_thread)
            self.assertEqual(seen["opener"][0], t.ident)
            self.assertNotEqual(t.ident, main_thread)
            self.assertTrue(seen["logger"], "the logger was never called")
            self.assertNotIn(main_thread, seen["logger"])
            refreshed = c.refresh(token)
            self.assertEqual(refreshed["refresh_token"], token["refresh_token"])

    def test_cancel_from_another_thread_ends_a_waiting_authorize(self):
        opened = threading.Event()
        result = {}
        with oauthmail.Client(self.config) as c:
            c.set_url_opener(lambda url: opened.set())  # "opens" the URL but nobody ever approves

            def work():
                try:
                    c.authorize({"login_hint": self.user})
                except oauthmail.OAuthMailError as e:
                    result["error"] = e

            t = threading.Thread(target=work)
            t.start()
            self.assertTrue(opened.wait(20), "the url opener was not called")
            time.sleep(0.3)
            started = time.monotonic()
            c.cancel()
            t.join(10)
            self.assertFalse(t.is_alive(), "authorize kept waiting after cancel")
            self.assertLess(time.monotonic() - started, 5)
            self.assertEqual(result["error"].status, oauthmail.CANCELLED)
            self.assertEqual(result["error"].name, "cancelled")
            self.assertIsInstance(result["error"], oauthmail.CancelledError)

    def test_url_opener_that_raises_makes_authorize_fail_cancelled_with_the_cause(self):
        with oauthmail.Client(self.config) as c:
            def opener(url):
                raise RuntimeError("no browser here")

            c.set_url_opener(opener)
            with self.assertRaises(oauthmail.CancelledError) as cm:
                c.authorize({"login_hint": self.user})
            self.assertEqual(cm.exception.status, oauthmail.CANCELLED)
            self.assertIsInstance(cm.exception.__cause__, RuntimeError)

    def test_a_logger_that_raises_is_contained_and_the_typed_calls_still_work(self):
        with oauthmail.Client(self.config) as c:
            def logger(level, line):
                raise ValueError("logger broke")

            c.set_logger(logger, oauthmail.LOG_TRACE)
            c.set_url_opener(lambda url: threading.Thread(target=follow, args=(url, self.ca), daemon=True).start())
            token = c.authorize(login_hint=self.user)
            self.assertEqual(token["email"], self.user)
            self.assertIsInstance(token["expires_at"], int)
            result = c.send(token, {"from": self.user, "to": ["ion@example.ro"], "subject": "jurnal ș", "text": "ț"})
            self.assertTrue(result["message_id"].startswith("<"))
            self.assertEqual(result["transport"], "gmail_api")
            self.assertIsInstance(c.logger_error, ValueError)
            self.assertEqual(c.revoke(token), {"revoked": True})

    def test_parallel_sends_from_four_threads_share_one_client(self):
        # CDLL releases the GIL during each call, so the four sends overlap inside the library.
        with oauthmail.Client(self.config) as c:
            c.set_url_opener(lambda url: threading.Thread(target=follow, args=(url, self.ca), daemon=True).start())
            token = c.authorize({"login_hint": self.user})
            results, errors = [], []

            def send(i):
                try:
                    results.append(c.send(token, {"from": self.user, "to": ["ion@example.ro"],
                                                  "subject": f"paralel {i} ș", "text": "ț"}))
                except Exception as e:
                    errors.append(e)

            threads = [threading.Thread(target=send, args=(i,)) for i in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            self.assertFalse(any(t.is_alive() for t in threads), "a send did not return within 30 s")
            self.assertEqual(errors, [])
            self.assertEqual(len({r["message_id"] for r in results}), 4)

    def test_invalid_recipient_raises_invalid_argument_naming_message_to(self):
        with oauthmail.Client(self.config) as c:
            c.set_url_opener(lambda url: threading.Thread(target=follow, args=(url, self.ca), daemon=True).start())
            token = c.authorize({"login_hint": self.user})
            with self.assertRaises(oauthmail.InvalidArgumentError) as cm:
                c.send(token, {"from": self.user, "to": ["ion@example.ro", "not an address"],
                               "subject": "x", "text": "y"})
            self.assertEqual((cm.exception.status, cm.exception.field), (oauthmail.INVALID_ARGUMENT, "message.to[1]"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
