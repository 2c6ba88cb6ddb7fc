//! Backend answers read by the bridge's HTTP/1.1 client (`backend::h1`):
//! whatever bytes a backend sends, reading them never panics, and they read
//! the same whether they arrive in one piece or a few bytes at a time
//! (status, header fields and body, or the same error); a body read is
//! never over the limit.
//!
//! Input: one byte of read size (1–256 bytes per read), one byte of flags
//! (bit 0: the answer to a HEAD request), then the answer's bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim_bridge::backend::h1::{read_answer, Answer};

const LIMIT: usize = 4096;

fn shown(r: Result<Answer, String>) -> Result<String, String> {
    r.map(|a| {
        assert!(a.body.len() <= LIMIT, "body over the limit");
        format!("{} {:?} {:?}", a.status, a.headers, a.body)
    })
}

fuzz_target!(|data: &[u8]| {
    let [step, flags, answer @ ..] = data else {
        return;
    };
    let head = flags & 1 == 1;
    let whole = shown(read_answer(answer, answer.len(), head, LIMIT));
    let stepped = shown(read_answer(answer, *step as usize + 1, head, LIMIT));
    assert_eq!(whole, stepped, "read whole and in steps differ");
});
