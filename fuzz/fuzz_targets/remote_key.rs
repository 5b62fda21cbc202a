//! Fuzz target `remote_key`: see `memocache_fuzz::keys` for the input format and the properties
//! checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| memocache_fuzz::keys::run(data));
