#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| oauthmail_fuzz::message_document(data));
