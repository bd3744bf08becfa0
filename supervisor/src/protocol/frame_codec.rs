//! The codec of the supervisor's side of a `Work` stream: prost's, plus a check of every
//! module frame before it is decoded.
//!
//! Decoding allocates one struct per entry of a repeated field, and an empty `Outcome` is 2
//! bytes on the wire against 88 in memory: a 16 MiB `OutcomeBatch` of them would cost over a
//! gigabyte of the supervisor's memory before any of its code sees the frame. The check counts
//! the entries of `ModuleFrame.outcomes` in the raw bytes and refuses a frame that holds more
//! than [`MAX_OUTCOMES_PER_FRAME`] (the stream then breaks, like any other protocol error).

use convotic_proto::plugin::v1::{ModuleFrame, SupervisorFrame};
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic::Status;
use tonic_prost::{ProstDecoder, ProstEncoder};

/// Most outcomes one module frame may carry (the SDKs send at most 256).
pub const MAX_OUTCOMES_PER_FRAME: usize = 4096;

/// `ModuleFrame.outcomes` (an `OutcomeBatch`).
const OUTCOMES_FIELD: u64 = 3;
/// `OutcomeBatch.outcomes` (repeated `Outcome`).
const OUTCOME_FIELD: u64 = 1;
/// Protobuf's length-delimited wire type.
const LEN: u64 = 2;

/// Encodes `SupervisorFrame`s and decodes checked `ModuleFrame`s.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkCodec;

impl Codec for WorkCodec {
    type Encode = SupervisorFrame;
    type Decode = ModuleFrame;
    type Encoder = ProstEncoder<SupervisorFrame>;
    type Decoder = CheckedDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        CheckedDecoder(ProstDecoder::default())
    }
}

/// Prost's decoder behind the outcome count check.
#[derive(Debug, Clone, Default)]
pub struct CheckedDecoder(ProstDecoder<ModuleFrame>);

impl Decoder for CheckedDecoder {
    type Item = ModuleFrame;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<ModuleFrame>, Status> {
        use bytes::Buf as _;
        if let Some(count) = count_outcomes(buf.chunk()) {
            if count > MAX_OUTCOMES_PER_FRAME {
                return Err(Status::resource_exhausted(format!(
                    "a module frame holds {count} outcomes, more than {MAX_OUTCOMES_PER_FRAME}"
                )));
            }
        }
        self.0.decode(buf)
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.0.buffer_settings()
    }
}

/// The outcomes of a `ModuleFrame` in its encoded form, over every `outcomes` field it holds;
/// `None` when the bytes are not a well-formed message (prost then reports the error). Counts
/// without allocating.
pub fn count_outcomes(frame: &[u8]) -> Option<usize> {
    let mut total = Some(0usize);
    each_field(frame, |number, payload| {
        if let (OUTCOMES_FIELD, Some(batch)) = (number, payload) {
            let mut count = 0usize;
            let scanned = each_field(batch, |n, p| {
                if n == OUTCOME_FIELD && p.is_some() {
                    count += 1;
                }
            });
            total = total.zip(scanned).map(|(t, ())| t + count);
        }
    })?;
    total
}

/// Calls `visit` with the number of each top-level field of a message and, for a
/// length-delimited one, its payload; `None` when the bytes are not a well-formed message.
fn each_field<'a>(mut bytes: &'a [u8], mut visit: impl FnMut(u64, Option<&'a [u8]>)) -> Option<()> {
    while !bytes.is_empty() {
        let key = varint(&mut bytes)?;
        let (number, wire) = (key >> 3, key & 7);
        let payload = match wire {
            0 => {
                varint(&mut bytes)?;
                None
            }
            1 => {
                bytes = bytes.get(8..)?;
                None
            }
            LEN => {
                let len = usize::try_from(varint(&mut bytes)?).ok()?;
                let (payload, rest) = (bytes.get(..len)?, bytes.get(len..)?);
                bytes = rest;
                Some(payload)
            }
            5 => {
                bytes = bytes.get(4..)?;
                None
            }
            _ => return None,
        };
        visit(number, payload);
    }
    Some(())
}

/// Reads one varint.
fn varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use convotic_proto::plugin::v1::{module_frame, LaneReady, Outcome, OutcomeBatch};
    use prost::Message;

    fn batch_of(n: usize) -> Vec<u8> {
        ModuleFrame {
            frame: Some(module_frame::Frame::Outcomes(OutcomeBatch {
                outcomes: (1..=n as u64)
                    .map(|id| Outcome { id, result: None })
                    .collect(),
            })),
        }
        .encode_to_vec()
    }

    #[test]
    fn outcomes_are_counted_without_decoding() {
        assert_eq!(count_outcomes(&batch_of(0)), Some(0));
        assert_eq!(count_outcomes(&batch_of(3)), Some(3));
        assert_eq!(count_outcomes(&batch_of(5000)), Some(5000));
        let ready = ModuleFrame {
            frame: Some(module_frame::Frame::Ready(LaneReady { lane: 1 })),
        }
        .encode_to_vec();
        assert_eq!(count_outcomes(&ready), Some(0));
        // Two `outcomes` fields in one frame (prost would merge them): both count.
        let twice = [batch_of(3), batch_of(4)].concat();
        assert_eq!(count_outcomes(&twice), Some(7));
    }

    #[test]
    fn empty_outcomes_two_bytes_each_are_counted_and_malformed_bytes_are_left_to_prost() {
        // The hostile form: `outcomes { outcomes {} outcomes {} ... }`.
        let entries = [0x0a_u8, 0x00].repeat(10_000);
        let mut frame = vec![0x1a];
        let mut len = entries.len();
        while len >= 0x80 {
            frame.push((len as u8) | 0x80);
            len >>= 7;
        }
        frame.push(len as u8);
        frame.extend(entries);
        assert_eq!(count_outcomes(&frame), Some(10_000));
        assert!(ModuleFrame::decode(frame.as_slice()).is_ok());
        assert_eq!(count_outcomes(&[0x1a, 0x05, 0x0a]), None);
        assert_eq!(count_outcomes(&[0xff]), None);
    }
}
