//! The XML-RPC response decoder on arbitrary bytes, as a broken or hostile supervisord (or
//! whatever listens at SUPERVISOR_SERVER_URL) could answer: decoded, and each value walked.
//! A crash, a hang, deep recursion or an allocation past libFuzzer's limit is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use superlance::rpc::xml::decode_response;

fuzz_target!(|data: &[u8]| {
    if let Ok(reply) = decode_response(data) {
        std::hint::black_box(format!("{reply:?}"));
    }
});
