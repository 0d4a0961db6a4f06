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

/// Virtual memory for Wasmtime's `custom-virtual-memory` platform (needed to compile inside
/// the Worker): plain zeroed heap allocations. There is no protection to change and no
/// copy-on-write image support (Wasmtime copies images instead).
#[cfg(feature = "worker-compile")]
mod virtual_memory {
    use std::alloc::{alloc_zeroed, dealloc, Layout};

    const PAGE: usize = 64 * 1024;

    fn layout(size: usize) -> Option<Layout> {
        Layout::from_size_align(size.max(1), PAGE).ok()
    }

    #[allow(unsafe_code)]
    #[no_mangle]
    pub extern "C" fn wasmtime_page_size() -> usize {
        PAGE
    }

    #[allow(unsafe_code)]
    #[no_mangle]
    pub extern "C" fn wasmtime_mmap_new(size: usize, _prot: u32, ret: &mut *mut u8) -> i32 {
        let Some(layout) = layout(size) else {
            return -1;
        };
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        if ptr.is_null() {
            return -1;
        }
        *ret = ptr;
        0
    }

    #[allow(unsafe_code)]
    #[no_mangle]
    pub extern "C" fn wasmtime_mmap_remap(addr: *mut u8, size: usize, _prot: u32) -> i32 {
        // SAFETY: Wasmtime remaps only ranges inside a mapping it created with mmap_new.
        unsafe { core::ptr::write_bytes(addr, 0, size) };
        0
    }

    #[allow(unsafe_code)]
    #[no_mangle]
    pub extern "C" fn wasmtime_munmap(ptr: *mut u8, size: usize) -> i32 {
        let Some(layout) = layout(size) else {
            return -1;
        };
        // SAFETY: Wasmtime unmaps whole mappings it created with mmap_new of this size.
        unsafe { dealloc(ptr, layout) };
        0
    }

    #[allow(unsafe_code)]
    #[no_mangle]
    pub extern "C" fn wasmtime_mprotect(_ptr: *mut u8, _size: usize, _prot: u32) -> i32 {
        0
    }

    #[allow(unsafe_code)]
    #[no_mangle]
    pub extern "C" fn wasmtime_memory_image_new(
        _ptr: *const u8,
        _len: usize,
        ret: &mut *mut u8,
    ) -> i32 {
        *ret = core::ptr::null_mut();
        0
    }

    #[allow(unsafe_code)]
    #[no_mangle]
    pub extern "C" fn wasmtime_memory_image_map_at(
        _image: *mut u8,
        _addr: *mut u8,
        _len: usize,
    ) -> i32 {
        -1
    }

    #[allow(unsafe_code)]
    #[no_mangle]
    pub extern "C" fn wasmtime_memory_image_free(_image: *mut u8) {}
}

/// Cranelift times its passes with `Instant::now`, which panics on wasm32: a profiler that
/// measures nothing. Call once before compiling.
#[cfg(feature = "worker-compile")]
pub fn quiet_cranelift_timing() {
    struct Quiet;
    impl cranelift_codegen::timing::Profiler for Quiet {
        fn start_pass(&self, _: cranelift_codegen::timing::Pass) -> Box<dyn core::any::Any> {
            Box::new(())
        }
    }
    let _ = cranelift_codegen::timing::set_thread_profiler(Box::new(Quiet));
}
