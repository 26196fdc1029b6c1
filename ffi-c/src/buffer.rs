//! Copying a string the library made into a caller's buffer, `snprintf` style.

use std::ffi::c_char;

use crate::status::*;

/// Copies `text` into `buffer` (truncated to `buffer_len - 1` bytes, NUL-terminated) and writes
/// its full length to `*out_needed` if that is not NULL. `buffer` may be NULL when `buffer_len`
/// is 0 (to ask for the length).
///
/// # Safety
/// `buffer` is NULL or points to `buffer_len` writable bytes; `out_needed` is NULL or writable.
pub(crate) unsafe fn copy_out(text: &str, buffer: *mut c_char, buffer_len: usize, out_needed: *mut usize) {
    if buffer_len > 0 {
        let n = text.len().min(buffer_len - 1);
        // SAFETY: buffer has buffer_len writable bytes per the contract; n < buffer_len.
        unsafe {
            std::ptr::copy_nonoverlapping(text.as_ptr(), buffer.cast::<u8>(), n);
            buffer.add(n).write(0);
        }
    }
    if !out_needed.is_null() {
        // SAFETY: non-null and writable per the contract.
        unsafe { out_needed.write(text.len()) };
    }
}

/// Refuses a NULL `buffer` with a nonzero `buffer_len`.
pub(crate) fn check_buffer(function: &str, buffer: *mut c_char, buffer_len: usize) -> Result<(), circuit_status> {
    if buffer.is_null() && buffer_len > 0 {
        return Err(fail(CIRCUIT_ERR_NULL_POINTER, format!("{function}: `buffer` is NULL with length {buffer_len}")));
    }
    Ok(())
}
