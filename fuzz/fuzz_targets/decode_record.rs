//! Fuzz target `decode_record`: see `memocache_fuzz::record` for the input format and the properties
//! checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| memocache_fuzz::record::run(data));
