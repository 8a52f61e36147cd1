//! Opus encoding and decoding (libopus through the `opus` crate), mono, 48 kHz.

use crate::SAMPLE_RATE;

/// What the encoder optimises for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Application {
    /// Speech (Opus `VOIP`): best intelligibility at low bitrates. The default.
    #[default]
    Voice,
    /// Music and mixed content (Opus `AUDIO`).
    Audio,
}

impl std::str::FromStr for Application {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "voice" => Ok(Self::Voice),
            "audio" => Ok(Self::Audio),
            other => Err(format!("unknown application {other:?}: use voice or audio")),
        }
    }
}

/// Encoder settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncoderSettings {
    /// Target bitrate, bits per second (6,000 to 510,000).
    pub bitrate_bps: u32,
    /// Voice or audio.
    pub application: Application,
    /// Frame duration in samples at 48 kHz: 120, 240, 480, 960 (20 ms, the default),
    /// 1920 or 2880.
    pub frame_samples: usize,
    /// Opus in-band FEC (for the live path; useless in files).
    pub inband_fec: bool,
    /// Expected packet loss, percent; FEC is tuned for it.
    pub expected_loss_pct: u8,
}

impl Default for EncoderSettings {
    fn default() -> Self {
        Self {
            bitrate_bps: 32_000,
            application: Application::Voice,
            frame_samples: 960,
            inband_fec: false,
            expected_loss_pct: 0,
        }
    }
}

impl EncoderSettings {
    /// Settings for a live stream: 24 kbps voice, 20 ms frames, FEC tuned for 10 % loss.
    pub fn live() -> Self {
        Self {
            bitrate_bps: 24_000,
            inband_fec: true,
            expected_loss_pct: 10,
            ..Self::default()
        }
    }
}

/// Why Opus encoding or decoding failed.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// libopus refused.
    #[error("libopus: {0}")]
    Opus(#[from] opus::Error),
    /// A frame size libopus does not take.
    #[error("unsupported Opus frame size of {0} samples (use 120, 240, 480, 960, 1920 or 2880)")]
    FrameSize(usize),
    /// `encode` was given the wrong number of samples.
    #[error("frame of {got} samples given to an encoder that takes {expected}")]
    FrameLength {
        /// Samples given.
        got: usize,
        /// Samples per frame.
        expected: usize,
    },
}

/// An Opus encoder for mono 48 kHz audio.
pub struct Encoder {
    inner: opus::Encoder,
    frame_samples: usize,
    out: Vec<u8>,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("frame_samples", &self.frame_samples)
            .finish_non_exhaustive()
    }
}

impl Encoder {
    /// An encoder with `settings`.
    pub fn new(settings: &EncoderSettings) -> Result<Self, CodecError> {
        if ![120, 240, 480, 960, 1920, 2880].contains(&settings.frame_samples) {
            return Err(CodecError::FrameSize(settings.frame_samples));
        }
        let application = match settings.application {
            Application::Voice => opus::Application::Voip,
            Application::Audio => opus::Application::Audio,
        };
        let mut inner = opus::Encoder::new(SAMPLE_RATE, opus::Channels::Mono, application)?;
        inner.set_bitrate(opus::Bitrate::Bits(settings.bitrate_bps as i32))?;
        inner.set_inband_fec(settings.inband_fec)?;
        inner.set_packet_loss_perc(i32::from(settings.expected_loss_pct.min(100)))?;
        Ok(Self {
            inner,
            frame_samples: settings.frame_samples,
            out: vec![0; MAX_PACKET_BYTES],
        })
    }

    /// Samples per frame.
    pub fn frame_samples(&self) -> usize {
        self.frame_samples
    }

    /// The encoder's look-ahead in samples: the Ogg Opus pre-skip.
    pub fn lookahead(&mut self) -> Result<u16, CodecError> {
        let samples = self.inner.get_lookahead()?;
        Ok(u16::try_from(samples).unwrap_or(u16::MAX))
    }

    /// Encodes exactly one frame of samples into one Opus packet.
    pub fn encode(&mut self, frame: &[f32]) -> Result<&[u8], CodecError> {
        if frame.len() != self.frame_samples {
            return Err(CodecError::FrameLength {
                got: frame.len(),
                expected: self.frame_samples,
            });
        }
        let n = self.inner.encode_float(frame, &mut self.out)?;
        Ok(&self.out[..n])
    }
}

/// The largest packet we let libopus produce: the protocol's Opus packet limit.
pub const MAX_PACKET_BYTES: usize = 4000;

/// An Opus decoder producing mono 48 kHz audio.
pub struct Decoder {
    inner: opus::Decoder,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder").finish_non_exhaustive()
    }
}

/// Longest Opus packet, in samples at 48 kHz (120 ms).
pub const MAX_PACKET_SAMPLES: usize = 5760;

impl Decoder {
    /// A mono decoder.
    pub fn new() -> Result<Self, CodecError> {
        Ok(Self {
            inner: opus::Decoder::new(SAMPLE_RATE, opus::Channels::Mono)?,
        })
    }

    /// Decodes `packet`, appending its samples to `out`. Returns how many.
    pub fn decode(&mut self, packet: &[u8], out: &mut Vec<f32>) -> Result<usize, CodecError> {
        self.decode_into(packet, MAX_PACKET_SAMPLES, false, out)
    }

    /// Appends `samples` of concealment (Opus packet-loss concealment) for a lost frame.
    pub fn conceal(&mut self, samples: usize, out: &mut Vec<f32>) -> Result<usize, CodecError> {
        self.decode_into(&[], samples, false, out)
    }

    /// Recovers a lost frame of `samples` from the in-band FEC data in `next_packet` (the
    /// packet after the lost one). Falls back to concealment if it carries none.
    pub fn recover(
        &mut self,
        next_packet: &[u8],
        samples: usize,
        out: &mut Vec<f32>,
    ) -> Result<usize, CodecError> {
        self.decode_into(next_packet, samples, true, out)
    }

    /// Forgets all state (after a stream discontinuity).
    pub fn reset(&mut self) -> Result<(), CodecError> {
        Ok(self.inner.reset_state()?)
    }

    fn decode_into(
        &mut self,
        packet: &[u8],
        max: usize,
        fec: bool,
        out: &mut Vec<f32>,
    ) -> Result<usize, CodecError> {
        let start = out.len();
        out.resize(start + max, 0.0);
        match self.inner.decode_float(packet, &mut out[start..], fec) {
            Ok(n) => {
                out.truncate(start + n);
                Ok(n)
            }
            Err(e) => {
                out.truncate(start);
                Err(e.into())
            }
        }
    }
}
