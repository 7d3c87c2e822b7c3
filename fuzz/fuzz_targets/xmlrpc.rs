//! Gandi's XML-RPC answers: the response reader and what reads its values.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Ok(v)) = mailroom::channel::gandi_xmlrpc::parse_response(data) {
        let _ = mailroom::channel::gandi_xmlrpc::notifications(&v);
        let _ = mailroom::channel::gandi_xmlrpc::count(&v);
        let _ = mailroom::channel::gandi_xmlrpc::accepted(&v);
    }
});
