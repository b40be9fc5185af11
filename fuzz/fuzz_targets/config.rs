//! `ejtimaa::fuzzing::config_bytes` on libFuzzer's inputs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ejtimaa::fuzzing::config_bytes(data);
});
