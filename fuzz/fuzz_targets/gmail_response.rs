#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| oauthmail_fuzz::gmail_response(data));
