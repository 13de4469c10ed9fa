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
            # Once, and (API.md) possibly on a thread other than the caller's: never the main one here.
            self.assertEqual(len(seen["opener"]), 1)
            self.assertNotEqual(seen["opener"][0], main_thread)
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

    def test_url_opener_that_raises_makes_authorize_fail_cancelled_with_the_cause(self):
        with oauthmail.Client(self.config) as c:
            def opener(url):
                raise RuntimeError("no browser here")

            c.set_url_opener(opener)
            with self.assertRaises(oauthmail.OAuthMailError) as cm:
                c.authorize({"login_hint": self.user})
            self.assertEqual(cm.exception.status, oauthmail.CANCELLED)
            self.assertIsInstance(cm.exception.__cause__, RuntimeError)

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
            with self.assertRaises(oauthmail.OAuthMailError) as cm:
                c.send(token, {"from": self.user, "to": ["ion@example.ro", "not an address"],
                               "subject": "x", "text": "y"})
            self.assertEqual((cm.exception.status, cm.exception.field), (oauthmail.INVALID_ARGUMENT, "message.to[1]"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
