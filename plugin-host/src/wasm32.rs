//! Platform functions Wasmtime's runtime needs on `wasm32-unknown-unknown` (no OS). A Worker
//! isolate is single-threaded, so a plain static is the thread-local storage.

use core::sync::atomic::{AtomicPtr, Ordering};

static TLS: AtomicPtr<u8> = AtomicPtr::new(core::ptr::null_mut());

#[allow(unsafe_code)]
#[no_mangle]
pub extern "C" fn wasmtime_tls_get() -> *mut u8 {
    TLS.load(Ordering::Relaxed)
}

#[allow(unsafe_code)]
#[no_mangle]
pub extern "C" fn wasmtime_tls_set(ptr: *mut u8) {
    TLS.store(ptr, Ordering::Relaxed);
}
