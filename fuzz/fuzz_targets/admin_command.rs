//! `ejtimaa::fuzzing::admin_bytes` on libFuzzer's inputs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ejtimaa::fuzzing::admin_bytes(data);
});
