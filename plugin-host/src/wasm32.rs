//! Platform functions Wasmtime's runtime needs on `wasm32-unknown-unknown` (no OS). A Worker
//! isolate is single-threaded, so plain statics are the thread-local storage. Wasmtime 48
//! asks for slot 0 (the runtime's pointer) and slot 1 (component-model-async state).

use core::sync::atomic::{AtomicPtr, Ordering};

static TLS: [AtomicPtr<u8>; 2] = [
    AtomicPtr::new(core::ptr::null_mut()),
    AtomicPtr::new(core::ptr::null_mut()),
];

#[allow(unsafe_code)]
#[no_mangle]
pub extern "C" fn wasmtime_tls_get(slot: usize) -> *mut u8 {
    TLS.get(slot)
        .map_or(core::ptr::null_mut(), |p| p.load(Ordering::Relaxed))
}

#[allow(unsafe_code)]
#[no_mangle]
pub extern "C" fn wasmtime_tls_set(slot: usize, ptr: *mut u8) {
    if let Some(p) = TLS.get(slot) {
        p.store(ptr, Ordering::Relaxed);
    }
}
