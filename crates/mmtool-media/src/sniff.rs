use std::fmt;
use std::io::Read;
use std::path::Path;

use crate::MediaError;

/// What a file holds, judged from its content (magic bytes), never its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Image(ImageKind),
    Audio(AudioKind),
    Video(VideoKind),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageKind {
    Jpeg,
    Png,
    WebP,
    Gif,
    Bmp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioKind {
    Wav,
    Flac,
    Mp3,
    OggVorbis,
    /// AAC in an MP4 container (`.m4a`).
    M4a,
    /// Raw AAC with ADTS headers (`.aac`).
    Adts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoKind {
    /// ISO base media file (MP4/MOV); H.264 video is decoded.
    Mp4,
}

impl MediaKind {
    /// The request modality this media belongs to.
    pub fn modality(self) -> mmtool_data::Modality {
        match self {
            MediaKind::Image(_) => mmtool_data::Modality::Image,
            MediaKind::Audio(_) => mmtool_data::Modality::Audio,
            MediaKind::Video(_) => mmtool_data::Modality::Video,
        }
    }

    pub fn format_name(self) -> &'static str {
        match self {
            MediaKind::Image(k) => k.name(),
            MediaKind::Audio(k) => k.name(),
            MediaKind::Video(VideoKind::Mp4) => "MP4",
        }
    }

    /// File extension symphonia's probe understands for this format.
    pub(crate) fn extension(self) -> &'static str {
        match self {
            MediaKind::Image(ImageKind::Jpeg) => "jpg",
            MediaKind::Image(ImageKind::Png) => "png",
            MediaKind::Image(ImageKind::WebP) => "webp",
            MediaKind::Image(ImageKind::Gif) => "gif",
            MediaKind::Image(ImageKind::Bmp) => "bmp",
            MediaKind::Audio(AudioKind::Wav) => "wav",
            MediaKind::Audio(AudioKind::Flac) => "flac",
            MediaKind::Audio(AudioKind::Mp3) => "mp3",
            MediaKind::Audio(AudioKind::OggVorbis) => "ogg",
            MediaKind::Audio(AudioKind::M4a) => "m4a",
            MediaKind::Audio(AudioKind::Adts) => "aac",
            MediaKind::Video(VideoKind::Mp4) => "mp4",
        }
    }
}

impl ImageKind {
    pub fn name(self) -> &'static str {
        match self {
            ImageKind::Jpeg => "JPEG",
            ImageKind::Png => "PNG",
            ImageKind::WebP => "WebP",
            ImageKind::Gif => "GIF",
            ImageKind::Bmp => "BMP",
        }
    }

    pub(crate) fn image_format(self) -> image::ImageFormat {
        match self {
            ImageKind::Jpeg => image::ImageFormat::Jpeg,
            ImageKind::Png => image::ImageFormat::Png,
            ImageKind::WebP => image::ImageFormat::WebP,
            ImageKind::Gif => image::ImageFormat::Gif,
            ImageKind::Bmp => image::ImageFormat::Bmp,
        }
    }
}

impl AudioKind {
    pub fn name(self) -> &'static str {
        match self {
            AudioKind::Wav => "WAV",
            AudioKind::Flac => "FLAC",
            AudioKind::Mp3 => "MP3",
            AudioKind::OggVorbis => "Ogg Vorbis",
            AudioKind::M4a => "M4A",
            AudioKind::Adts => "AAC (ADTS)",
        }
    }
}

impl fmt::Display for MediaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.modality(), self.format_name())
    }
}

/// How many leading bytes [`sniff_bytes`] looks at.
pub(crate) const SNIFF_LEN: usize = 64;

/// Identifies a file's format from its first bytes. Only these bytes are read.
pub fn sniff(path: &Path) -> Result<MediaKind, MediaError> {
    let io_err = |source| MediaError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io_err)?;
    let mut head = Vec::with_capacity(SNIFF_LEN);
    file.take(SNIFF_LEN as u64)
        .read_to_end(&mut head)
        .map_err(io_err)?;
    if head.is_empty() {
        return Err(MediaError::Empty {
            path: path.to_path_buf(),
        });
    }
    sniff_bytes(&head).map_err(|e| e.into_error(path))
}

/// Why [`sniff_bytes`] could not name a supported format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SniffError {
    /// No known signature.
    Unrecognized,
    /// A known format this crate does not decode (the string names it).
    Unsupported(&'static str),
}

impl SniffError {
    pub(crate) fn into_error(self, path: &Path) -> MediaError {
        match self {
            SniffError::Unrecognized => MediaError::Unrecognized {
                path: path.to_path_buf(),
            },
            SniffError::Unsupported(what) => MediaError::Unsupported {
                path: path.to_path_buf(),
                what: what.to_string(),
            },
        }
    }
}

/// Identifies a format from the leading bytes of a file (at least the first
/// 64 bytes should be given where the file has them).
pub fn sniff_bytes(b: &[u8]) -> Result<MediaKind, SniffError> {
    use MediaKind::{Audio, Image, Video};
    let at = |off: usize, sig: &[u8]| b.len() >= off + sig.len() && &b[off..off + sig.len()] == sig;

    if at(0, &[0xFF, 0xD8, 0xFF]) {
        return Ok(Image(ImageKind::Jpeg));
    }
    if at(0, b"\x89PNG\r\n\x1a\n") {
        return Ok(Image(ImageKind::Png));
    }
    if at(0, b"GIF87a") || at(0, b"GIF89a") {
        return Ok(Image(ImageKind::Gif));
    }
    if at(0, b"BM") && b.len() >= 14 {
        return Ok(Image(ImageKind::Bmp));
    }
    if at(0, b"RIFF") {
        if at(8, b"WEBP") {
            return Ok(Image(ImageKind::WebP));
        }
        if at(8, b"WAVE") {
            return Ok(Audio(AudioKind::Wav));
        }
        if at(8, b"AVI ") {
            return Err(SniffError::Unsupported("AVI video"));
        }
    }
    if at(0, b"fLaC") {
        return Ok(Audio(AudioKind::Flac));
    }
    if at(0, b"OggS") {
        // The first Ogg page carries the codec's identification header.
        if at(28, b"\x01vorbis") {
            return Ok(Audio(AudioKind::OggVorbis));
        }
        if at(28, b"OpusHead") {
            return Err(SniffError::Unsupported("Ogg Opus audio"));
        }
        if at(28, b"\x80theora") {
            return Err(SniffError::Unsupported("Ogg Theora video"));
        }
        return Err(SniffError::Unsupported("Ogg stream with an unknown codec"));
    }
    if at(4, b"ftyp") {
        let brand = b.get(8..12).unwrap_or_default();
        return match brand {
            b"M4A " | b"M4B " | b"M4P " => Ok(Audio(AudioKind::M4a)),
            b"heic" | b"heix" | b"hevc" | b"mif1" | b"msf1" => {
                Err(SniffError::Unsupported("HEIF/HEIC image"))
            }
            b"avif" | b"avis" => Err(SniffError::Unsupported("AVIF image")),
            _ => Ok(Video(VideoKind::Mp4)),
        };
    }
    if at(0, &[0x1A, 0x45, 0xDF, 0xA3]) {
        return Err(SniffError::Unsupported("Matroska/WebM video"));
    }
    if at(0, b"II*\0") || at(0, b"MM\0*") {
        return Err(SniffError::Unsupported("TIFF image"));
    }
    if at(0, b"ID3") {
        return Ok(Audio(AudioKind::Mp3));
    }
    if b.len() >= 4 && b[0] == 0xFF && b[1] & 0xE0 == 0xE0 {
        let layer = (b[1] >> 1) & 0b11;
        let bitrate = b[2] >> 4;
        let rate = (b[2] >> 2) & 0b11;
        if layer == 0b00 && b[1] & 0xF6 == 0xF0 {
            return Ok(Audio(AudioKind::Adts));
        }
        // MPEG audio frame sync; reject the reserved bitrate/sample-rate codes
        // that random bytes starting with 0xFF would often hit.
        if layer != 0b00 && bitrate != 0b1111 && rate != 0b11 && (b[1] >> 3) & 0b11 != 0b01 {
            return Ok(Audio(AudioKind::Mp3));
        }
    }
    Err(SniffError::Unrecognized)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn padded(prefix: &[u8]) -> Vec<u8> {
        let mut v = prefix.to_vec();
        v.resize(SNIFF_LEN, 0);
        v
    }

    #[test]
    fn recognises_signatures() {
        use MediaKind::*;
        let cases: Vec<(Vec<u8>, MediaKind)> = vec![
            (padded(&[0xFF, 0xD8, 0xFF, 0xE0]), Image(ImageKind::Jpeg)),
            (padded(b"\x89PNG\r\n\x1a\n"), Image(ImageKind::Png)),
            (padded(b"GIF89a"), Image(ImageKind::Gif)),
            (padded(b"BM"), Image(ImageKind::Bmp)),
            (padded(b"RIFF\0\0\0\0WEBPVP8 "), Image(ImageKind::WebP)),
            (padded(b"RIFF\0\0\0\0WAVEfmt "), Audio(AudioKind::Wav)),
            (padded(b"fLaC"), Audio(AudioKind::Flac)),
            (padded(b"ID3\x04"), Audio(AudioKind::Mp3)),
            (padded(&[0xFF, 0xFB, 0x90, 0x64]), Audio(AudioKind::Mp3)),
            (padded(&[0xFF, 0xF1, 0x50, 0x80]), Audio(AudioKind::Adts)),
            (padded(b"\0\0\0\x20ftypisom"), Video(VideoKind::Mp4)),
            (padded(b"\0\0\0\x20ftypM4A "), Audio(AudioKind::M4a)),
        ];
        for (bytes, want) in cases {
            assert_eq!(sniff_bytes(&bytes), Ok(want), "{want}");
        }
        let mut ogg = padded(b"OggS");
        ogg[28..35].copy_from_slice(b"\x01vorbis");
        assert_eq!(sniff_bytes(&ogg), Ok(Audio(AudioKind::OggVorbis)));
    }

    #[test]
    fn names_unsupported_formats_and_rejects_garbage() {
        let mut opus = padded(b"OggS");
        opus[28..36].copy_from_slice(b"OpusHead");
        assert_eq!(
            sniff_bytes(&opus),
            Err(SniffError::Unsupported("Ogg Opus audio"))
        );
        assert_eq!(
            sniff_bytes(&padded(b"\0\0\0\x18ftypheic")),
            Err(SniffError::Unsupported("HEIF/HEIC image"))
        );
        assert_eq!(
            sniff_bytes(&padded(&[0x1A, 0x45, 0xDF, 0xA3])),
            Err(SniffError::Unsupported("Matroska/WebM video"))
        );
        assert_eq!(
            sniff_bytes(b"hello world, plain text"),
            Err(SniffError::Unrecognized)
        );
        assert_eq!(
            sniff_bytes(&[0xFF, 0xFF, 0xFF, 0xFF]),
            Err(SniffError::Unrecognized)
        );
        assert_eq!(sniff_bytes(&[]), Err(SniffError::Unrecognized));
    }

    #[test]
    fn sniff_reads_content_not_extension() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("photo.mp3");
        std::fs::write(&p, padded(b"\x89PNG\r\n\x1a\n")).unwrap();
        assert_eq!(sniff(&p).unwrap(), MediaKind::Image(ImageKind::Png));
        let t = dir.path().join("notes.jpg");
        std::fs::write(&t, b"just text").unwrap();
        let err = sniff(&t).unwrap_err();
        assert!(
            matches!(err, MediaError::Unrecognized { .. }) && err.to_string().contains("notes.jpg"),
            "{err}"
        );
        let e = dir.path().join("e.wav");
        std::fs::write(&e, b"").unwrap();
        assert!(matches!(sniff(&e).unwrap_err(), MediaError::Empty { .. }));
    }
}
