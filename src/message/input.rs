//! The bytes a document points at: a file (`path`, `raw_path`) or base64 text.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;

use super::stream::FileBody;
use super::MAX_MESSAGE_BYTES;
use crate::error::{Error, Result, Status};
use crate::file::{open_bounded, read_bounded, read_open, FileError};
use crate::hint;

pub(super) fn read_file(path: &str, field: &str) -> Result<Vec<u8>> {
    if path.is_empty() {
        return Err(Error::invalid(field, "the path is empty"));
    }
    read_bounded(path, MAX_FILE_BYTES).map_err(|e| file_error(e, path, field))
}

/// Files up to this size are read into the message; bigger ones are streamed while sending.
/// (A file that reports size 0 is read too: procfs files do, and hold more.)
const STREAM_FROM: u64 = 64 * 1024;

/// An attachment's file: its bytes when it is small, else the open file to be encoded while the
/// message is sent (see `stream`). Either way it exists, is a regular file, could be opened
/// for reading and is within the size limit.
pub(super) enum AttachmentFile {
    Bytes(Vec<u8>),
    Stream(FileBody),
}

pub(super) fn open_attachment(path: &str, field: &str) -> Result<AttachmentFile> {
    if path.is_empty() {
        return Err(Error::invalid(field, "the path is empty"));
    }
    let (file, meta) = open_bounded(path, MAX_FILE_BYTES).map_err(|e| file_error(e, path, field))?;
    if meta.len() <= STREAM_FROM {
        return read_open(file, meta.len(), MAX_FILE_BYTES)
            .map(AttachmentFile::Bytes)
            .map_err(|e| file_error(e, path, field));
    }
    FileBody::new(file, path)
        .map(AttachmentFile::Stream)
        .map_err(|e| file_error(FileError::Io(e), path, field))
}

fn file_error(e: FileError, path: &str, field: &str) -> Error {
    match e {
        FileError::NotRegular => Error::new(
            Status::Io,
            format!("'{path}' is not a file (only regular files are read, not FIFOs or devices)"),
        )
        .with_field(field),
        FileError::TooLarge(n) => Error::invalid(
            field,
            format!(
                "'{path}' holds at least {n} bytes, over the limit of {MAX_FILE_BYTES} bytes for a file: more than fits into a 35 MiB message"
            ),
        )
        .with_hint(&hint::MESSAGE_TOO_LARGE),
        FileError::Io(e) => Error::new(Status::Io, format!("cannot read '{path}': {e}")).with_field(field),
    }
}

/// The most a file named by a message document may hold: twice Gmail's message size, so the
/// size check after encoding (which names the real limit) decides for anything near it.
const MAX_FILE_BYTES: u64 = MAX_MESSAGE_BYTES as u64 * 2;

/// Standard or URL-safe base64, padded or not; whitespace (MIME line breaks) is ignored.
pub(crate) fn decode_base64(text: &str, field: &str) -> Result<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let config = GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    GeneralPurpose::new(&alphabet::STANDARD, config)
        .decode(&compact)
        .or_else(|_| GeneralPurpose::new(&alphabet::URL_SAFE, config).decode(&compact))
        .map_err(|e| Error::invalid(field, format!("not valid base64: {e}")))
}
