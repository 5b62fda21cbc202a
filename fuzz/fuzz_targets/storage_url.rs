//! Fuzz target `storage_url`: see `memocache_fuzz::urls` for the input format and the properties
//! checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| memocache_fuzz::urls::run(data));
