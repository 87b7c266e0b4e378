//! The protocol reader and the event parser on arbitrary bytes, as supervisord's side of the
//! pipe could write them: every frame is read (bytes that are not UTF-8 repaired), typed with
//! its faults, and formatted; any error ends the stream, as it ends the listener. A crash, a
//! hang or an allocation past libFuzzer's limit is a bug (frames larger than 16 MiB are
//! refused before allocation).
#![no_main]

use libfuzzer_sys::fuzz_target;
use superlance::event::Parsed;
use superlance::protocol::{FrameReader, Next};

fuzz_target!(|data: &[u8]| {
    let mut reader = FrameReader::new(data);
    // Each frame consumes at least its header line, so this ends; the bound is a guard.
    for _ in 0..100_000 {
        match reader.next_frame() {
            Ok(Next::Frame(frame)) => {
                let parsed = Parsed::from_frame(&frame);
                let faults: Vec<_> = parsed.faults.iter().collect();
                std::hint::black_box(format!("{parsed:?} {faults:?} {:?}", frame.repaired));
            }
            Ok(Next::Eof) | Ok(Next::Interrupted) | Err(_) => break,
        }
    }
});
