//! The limits every run is held to. Breaking one ends the run with a named [`crate::RunError`].

/// Per-run limits. The defaults fit every seeded plugin with a wide margin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// WebAssembly fuel (about one unit per instruction) for the whole run.
    pub fuel: u64,
    /// Linear memory per instance, in bytes.
    pub memory_bytes: usize,
    /// Requests a run may send.
    pub steps: u32,
    pub request_body_bytes: usize,
    pub response_body_bytes: usize,
    /// Wall time for the whole run, requests included, in milliseconds.
    pub total_time_ms: u64,
    /// Bytes of text a plugin may return in one step (URL, headers, message, warnings).
    pub output_bytes: usize,
}

impl Limits {
    /// Bytes the host may allocate to copy one step out of the plugin (a request with its
    /// headers and body, or an outcome with its warnings), counted as wasmtime's hostcall fuel:
    /// each string's bytes and each list's elements at their size in host memory. A step over
    /// this is refused while it is being read, before the host holds a copy.
    pub fn step_bytes(&self) -> usize {
        const HEADER: usize = std::mem::size_of::<(String, String)>();
        const WARNING: usize = std::mem::size_of::<String>();
        self.request_body_bytes
            .saturating_add(self.output_bytes)
            .saturating_add(MAX_HEADERS * HEADER)
            .saturating_add(MAX_WARNINGS * WARNING)
            // The step's own records and options.
            .saturating_add(1024)
    }
}

/// Headers one request may carry.
pub const MAX_HEADERS: usize = 64;
/// Warnings one outcome or format check may carry.
pub const MAX_WARNINGS: usize = 32;

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel: 400_000_000,
            memory_bytes: 32 << 20,
            steps: 8,
            request_body_bytes: 64 << 10,
            response_body_bytes: 1 << 20,
            total_time_ms: 15_000,
            output_bytes: 16 << 10,
        }
    }
}
