//! The bytes a document points at: a file (`path`, `raw_path`) or base64 text.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;

use super::MAX_MESSAGE_BYTES;
use crate::error::{Error, Result, Status};
use crate::hint;

pub(super) fn read_file(path: &str, field: &str) -> Result<Vec<u8>> {
    if path.is_empty() {
        return Err(Error::invalid(field, "the path is empty"));
    }
    let meta = std::fs::metadata(path)
        .map_err(|e| Error::new(Status::Io, format!("cannot read '{path}': {e}")).with_field(field))?;
    if !meta.is_file() {
        return Err(Error::new(Status::Io, format!("'{path}' is not a file")).with_field(field));
    }
    if meta.len() > (MAX_MESSAGE_BYTES as u64) * 2 {
        return Err(Error::invalid(
            field,
            format!("'{path}' is {} bytes, more than fits into a 35 MiB message", meta.len()),
        )
        .with_hint(&hint::MESSAGE_TOO_LARGE));
    }
    std::fs::read(path).map_err(|e| Error::new(Status::Io, format!("cannot read '{path}': {e}")).with_field(field))
}

/// Standard or URL-safe base64, padded or not; whitespace (MIME line breaks) is ignored.
pub(super) fn decode_base64(text: &str, field: &str) -> Result<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let config = GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    GeneralPurpose::new(&alphabet::STANDARD, config)
        .decode(&compact)
        .or_else(|_| GeneralPurpose::new(&alphabet::URL_SAFE, config).decode(&compact))
        .map_err(|e| Error::invalid(field, format!("not valid base64: {e}")))
}
