//! Fuzz target `duration`: see `memocache_fuzz::durations` for the input format and the properties
//! checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| memocache_fuzz::durations::run(data));
