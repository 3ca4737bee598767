use std::path::PathBuf;

/// Everything that can go wrong while reading a media file. Every variant names
/// the file, so a message shown to the user says which attachment was bad.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: file is empty (0 bytes)")]
    Empty { path: PathBuf },
    #[error("{path}: file is {bytes} bytes, over the {limit}-byte limit")]
    TooLarge {
        path: PathBuf,
        bytes: u64,
        limit: u64,
    },
    #[error(
        "{path}: not a recognised media file (supported: JPEG, PNG, WebP, GIF, BMP images; \
         WAV, FLAC, MP3, Ogg Vorbis, M4A/AAC audio; MP4/H.264 video)"
    )]
    Unrecognized { path: PathBuf },
    #[error("{path}: {what} is not supported")]
    Unsupported { path: PathBuf, what: String },
    #[error("{path}: expected {expected}, but the file content is {found}")]
    WrongKind {
        path: PathBuf,
        expected: &'static str,
        found: String,
    },
    #[error(
        "{path}: image is {width}x{height} ({} pixels), over the limit of {limit} pixels",
        u64::from(*width) * u64::from(*height)
    )]
    TooManyPixels {
        path: PathBuf,
        width: u32,
        height: u32,
        limit: u64,
    },
    #[error("{path}: clip is {duration_s:.1} s long, over the {limit_s:.1} s limit")]
    TooLong {
        path: PathBuf,
        duration_s: f32,
        limit_s: f32,
    },
    #[error("{path}: {what} contains no {unit} (zero-length)")]
    ZeroLength {
        path: PathBuf,
        what: &'static str,
        unit: &'static str,
    },
    #[error("{path}: corrupt or truncated {format}: {detail}")]
    Corrupt {
        path: PathBuf,
        format: &'static str,
        detail: String,
    },
}

impl MediaError {
    pub(crate) fn corrupt(
        path: &std::path::Path,
        format: &'static str,
        detail: impl ToString,
    ) -> Self {
        MediaError::Corrupt {
            path: path.to_path_buf(),
            format,
            detail: detail.to_string(),
        }
    }
}
