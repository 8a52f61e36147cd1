//! Ogg Opus files (RFC 7845): an `OpusHead` page, an `OpusTags` page, then audio pages
//! whose granule positions count 48 kHz samples including the encoder's pre-skip.
//!
//! [`OggOpusWriter`] writes what opusinfo, opusdec and ffmpeg accept; [`OggOpusReader`]
//! reads ours and other encoders' mono or stereo (mapping family 0) files.

use std::io::{Read, Seek, Write};

use ogg::reading::PacketReader;
use ogg::writing::{PacketWriteEndInfo, PacketWriter};

use crate::error::MediaErrorKind;

/// Audio pages are closed after this many packets (1 s at 20 ms), as RFC 7845 advises.
const PACKETS_PER_PAGE: u32 = 50;

/// The identification header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpusHead {
    /// Channel count (1 or 2 for mapping family 0).
    pub channels: u8,
    /// Samples at 48 kHz to drop from the start of the decoded audio.
    pub pre_skip: u16,
    /// The original input's sample rate (informational).
    pub input_rate: u32,
    /// Gain to apply on output, Q7.8 dB.
    pub output_gain: i16,
}

impl OpusHead {
    /// The 19-byte header packet (mapping family 0).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(19);
        b.extend_from_slice(b"OpusHead");
        b.push(1);
        b.push(self.channels);
        b.extend_from_slice(&self.pre_skip.to_le_bytes());
        b.extend_from_slice(&self.input_rate.to_le_bytes());
        b.extend_from_slice(&self.output_gain.to_le_bytes());
        b.push(0);
        b
    }

    /// Parses the header packet.
    pub fn parse(b: &[u8]) -> Result<Self, MediaErrorKind> {
        if b.len() < 19 || &b[..8] != b"OpusHead" {
            return Err(MediaErrorKind::NotOggOpus(
                "the first packet is not an OpusHead",
            ));
        }
        if b[8] >> 4 != 0 {
            return Err(MediaErrorKind::NotOggOpus(
                "unsupported OpusHead major version",
            ));
        }
        let channels = b[9];
        let family = b[18];
        if family != 0 || !(1..=2).contains(&channels) {
            return Err(MediaErrorKind::NotOggOpus(
                "only mono and stereo (channel mapping family 0) are supported",
            ));
        }
        Ok(Self {
            channels,
            pre_skip: u16::from_le_bytes([b[10], b[11]]),
            input_rate: u32::from_le_bytes([b[12], b[13], b[14], b[15]]),
            output_gain: i16::from_le_bytes([b[16], b[17]]),
        })
    }
}

fn opus_tags(vendor: &str, comments: &[String]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"OpusTags");
    b.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    b.extend_from_slice(vendor.as_bytes());
    b.extend_from_slice(&(comments.len() as u32).to_le_bytes());
    for c in comments {
        b.extend_from_slice(&(c.len() as u32).to_le_bytes());
        b.extend_from_slice(c.as_bytes());
    }
    b
}

/// Writes a mono Ogg Opus stream packet by packet.
pub struct OggOpusWriter<W: Write> {
    writer: PacketWriter<'static, W>,
    serial: u32,
    pre_skip: u64,
    granule: u64,
    in_page: u32,
    /// The newest packet is held back until we know whether it is the last.
    held: Option<(Vec<u8>, u64)>,
}

impl<W: Write> std::fmt::Debug for OggOpusWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OggOpusWriter")
            .field("serial", &self.serial)
            .field("granule", &self.granule)
            .finish_non_exhaustive()
    }
}

impl<W: Write> OggOpusWriter<W> {
    /// Starts a stream: writes the `OpusHead` and `OpusTags` pages.
    ///
    /// `serial` identifies the logical stream (any value; derive it from the content so that
    /// the same input gives byte-identical files). `comments` are `KEY=value` tags.
    pub fn new(
        out: W,
        serial: u32,
        head: &OpusHead,
        comments: &[String],
    ) -> Result<Self, std::io::Error> {
        let mut writer = PacketWriter::new(out);
        writer.write_packet(head.to_bytes(), serial, PacketWriteEndInfo::EndPage, 0)?;
        let vendor = concat!("dalaba-audio ", env!("CARGO_PKG_VERSION"));
        writer.write_packet(
            opus_tags(vendor, comments),
            serial,
            PacketWriteEndInfo::EndPage,
            0,
        )?;
        Ok(Self {
            writer,
            serial,
            pre_skip: u64::from(head.pre_skip),
            granule: 0,
            in_page: 0,
            held: None,
        })
    }

    /// Adds one Opus packet that decodes to `samples` samples.
    pub fn write_packet(&mut self, packet: &[u8], samples: u64) -> Result<(), std::io::Error> {
        self.granule += samples;
        if let Some((held, granule)) = self.held.take() {
            self.in_page += 1;
            let end = if self.in_page >= PACKETS_PER_PAGE {
                self.in_page = 0;
                PacketWriteEndInfo::EndPage
            } else {
                PacketWriteEndInfo::NormalPacket
            };
            self.writer.write_packet(held, self.serial, end, granule)?;
        }
        self.held = Some((packet.to_vec(), self.granule));
        Ok(())
    }

    /// Ends the stream. `original_samples` is the length of the audio before padding: the
    /// last page's granule position is `pre_skip + original_samples`, which tells decoders
    /// where to trim the final frame.
    pub fn finish(mut self, original_samples: u64) -> Result<W, std::io::Error> {
        if let Some((held, granule)) = self.held.take() {
            let end_granule = (self.pre_skip + original_samples).min(granule);
            self.writer.write_packet(
                held,
                self.serial,
                PacketWriteEndInfo::EndStream,
                end_granule,
            )?;
        }
        let mut inner = self.writer.into_inner();
        inner.flush()?;
        Ok(inner)
    }
}

/// Reads an Ogg Opus stream packet by packet.
pub struct OggOpusReader<R: Read + Seek> {
    reader: PacketReader<R>,
    head: OpusHead,
    serial: u32,
    last_granule: u64,
    ended: bool,
}

impl<R: Read + Seek> std::fmt::Debug for OggOpusReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OggOpusReader")
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

impl<R: Read + Seek> OggOpusReader<R> {
    /// Reads the headers.
    pub fn new(input: R) -> Result<Self, MediaErrorKind> {
        let mut reader = PacketReader::new(input);
        let first = reader
            .read_packet()
            .map_err(MediaErrorKind::Ogg)?
            .ok_or(MediaErrorKind::NotOggOpus("no Ogg packets"))?;
        let head = OpusHead::parse(&first.data)?;
        let serial = first.stream_serial();
        let tags = reader
            .read_packet()
            .map_err(MediaErrorKind::Ogg)?
            .ok_or(MediaErrorKind::NotOggOpus("no OpusTags packet"))?;
        if !tags.data.starts_with(b"OpusTags") {
            return Err(MediaErrorKind::NotOggOpus(
                "the second packet is not OpusTags",
            ));
        }
        Ok(Self {
            reader,
            head,
            serial,
            last_granule: 0,
            ended: false,
        })
    }

    /// The identification header.
    pub fn head(&self) -> &OpusHead {
        &self.head
    }

    /// The granule position of the last page read so far.
    pub fn last_granule(&self) -> u64 {
        self.last_granule
    }

    /// The next audio packet, or `None` at the end of the stream.
    pub fn next_packet(&mut self) -> Result<Option<AudioPacket>, MediaErrorKind> {
        loop {
            if self.ended {
                return Ok(None);
            }
            let Some(packet) = self.reader.read_packet().map_err(MediaErrorKind::Ogg)? else {
                return Ok(None);
            };
            if packet.stream_serial() != self.serial {
                continue; // another logical stream (multiplexed), not ours
            }
            let page_granule = packet.last_in_page().then(|| packet.absgp_page());
            if let Some(g) = page_granule {
                self.last_granule = g;
            }
            self.ended = packet.last_in_stream();
            return Ok(Some(AudioPacket {
                data: packet.data,
                page_granule,
                last: self.ended,
            }));
        }
    }
}

/// One audio packet and where it sits in the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AudioPacket {
    /// The Opus packet.
    pub data: Vec<u8>,
    /// If the packet ends its page: the page's granule position.
    pub page_granule: Option<u64>,
    /// The last packet of the stream.
    pub last: bool,
}

/// An Ogg Opus file read as mono 48 kHz samples, block by block, with the pre-skip
/// dropped and the end trimmed to the final granule position. The file-pipeline source
/// for Opus inputs (symphonia has no Opus decoder).
pub struct OpusFileSource {
    reader: OggOpusReader<std::io::BufReader<std::fs::File>>,
    decoder: crate::codec::Decoder,
    channels: usize,
    to_skip: usize,
    pre_skip: u64,
    /// The newest packet's samples, held back until we know whether it is the last.
    held: Vec<f32>,
    emitted: u64,
    gain: f32,
    done: bool,
}

impl std::fmt::Debug for OpusFileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusFileSource")
            .field("channels", &self.channels)
            .field("emitted", &self.emitted)
            .finish_non_exhaustive()
    }
}

impl OpusFileSource {
    /// Opens `path` if it is an Ogg Opus file.
    pub fn open(path: &std::path::Path) -> Result<Self, MediaErrorKind> {
        let file = std::fs::File::open(path).map_err(MediaErrorKind::Read)?;
        let reader = OggOpusReader::new(std::io::BufReader::new(file))?;
        let head = reader.head().clone();
        Ok(Self {
            reader,
            decoder: crate::codec::Decoder::new()?,
            channels: usize::from(head.channels),
            to_skip: usize::from(head.pre_skip),
            pre_skip: u64::from(head.pre_skip),
            held: Vec::new(),
            emitted: 0,
            gain: 10f32.powf(f32::from(head.output_gain) / 256.0 / 20.0),
            done: false,
        })
    }

    /// Channels in the file (the output is mono).
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Samples handed out so far.
    pub fn frames_read(&self) -> u64 {
        self.emitted
    }

    /// Appends the next block to `out`; `false` at the end.
    pub fn read(&mut self, out: &mut Vec<f32>) -> Result<bool, MediaErrorKind> {
        loop {
            if self.done {
                return Ok(false);
            }
            let packet = self.reader.next_packet()?;
            let last = packet.as_ref().is_none_or(|p| p.last);
            let mut fresh = Vec::new();
            if let Some(p) = &packet {
                self.decoder.decode(&p.data, &mut fresh)?;
                let skip = self.to_skip.min(fresh.len());
                fresh.drain(..skip);
                self.to_skip -= skip;
            }
            let mut block = std::mem::replace(&mut self.held, fresh);
            if last {
                block.append(&mut self.held);
                let end = self.reader.last_granule().saturating_sub(self.pre_skip);
                let allowed = end.saturating_sub(self.emitted);
                block.truncate(usize::try_from(allowed).unwrap_or(usize::MAX));
                self.done = true;
            }
            if block.is_empty() {
                continue;
            }
            if self.gain != 1.0 {
                block.iter_mut().for_each(|s| *s *= self.gain);
            }
            self.emitted += block.len() as u64;
            out.append(&mut block);
            return Ok(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_layout_is_rfc7845() {
        let head = OpusHead {
            channels: 1,
            pre_skip: 312,
            input_rate: 44_100,
            output_gain: 0,
        };
        let b = head.to_bytes();
        assert_eq!(
            b,
            [
                b'O', b'p', b'u', b's', b'H', b'e', b'a', b'd', 1, 1, 0x38, 0x01, 0x44, 0xac, 0, 0,
                0, 0, 0
            ]
        );
        assert_eq!(OpusHead::parse(&b).expect("valid"), head);
    }
}
