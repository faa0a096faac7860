//! A compact, explicit binary encoding for what ranks send each other.
//!
//! Task descriptors and records cross the network as little-endian fixed-width numbers and
//! length-prefixed UTF-8 strings. The encoding is written by hand (no schema evolution, no
//! self-description) because both ends are the same binary; decoding still checks every length
//! so that a mismatched binary on one node produces an error, not garbage.

/// Why bytes could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    /// The input ended before the value did.
    #[error("message truncated: needed {needed} more bytes, {left} left")]
    Truncated {
        /// Bytes the next field needs.
        needed: usize,
        /// Bytes left in the input.
        left: usize,
    },
    /// Bytes were left after the value.
    #[error("{0} unexpected bytes after the message")]
    Trailing(usize),
    /// A field held a value its type does not allow.
    #[error("invalid {0} in message")]
    Invalid(&'static str),
}

/// A value that can be sent between ranks.
pub trait Wire: Sized {
    /// Appends the encoding of `self` to `out`.
    fn put(&self, out: &mut Vec<u8>);
    /// Decodes one value from the front of `input`, advancing it.
    ///
    /// # Errors
    /// If `input` is too short or holds an invalid value.
    fn take(input: &mut &[u8]) -> Result<Self, WireError>;
}

/// Encodes one value.
pub fn encode<T: Wire>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    value.put(&mut out);
    out
}

/// Decodes exactly one value from `bytes`.
///
/// # Errors
/// If the bytes are not exactly one valid encoding of `T`.
pub fn decode<T: Wire>(mut bytes: &[u8]) -> Result<T, WireError> {
    let value = T::take(&mut bytes)?;
    if bytes.is_empty() {
        Ok(value)
    } else {
        Err(WireError::Trailing(bytes.len()))
    }
}

fn split_front<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8], WireError> {
    if input.len() < n {
        return Err(WireError::Truncated {
            needed: n,
            left: input.len(),
        });
    }
    let (head, tail) = input.split_at(n);
    *input = tail;
    Ok(head)
}

macro_rules! wire_number {
    ($($t:ty),*) => {$(
        impl Wire for $t {
            fn put(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn take(input: &mut &[u8]) -> Result<Self, WireError> {
                let bytes = split_front(input, std::mem::size_of::<$t>())?;
                Ok(<$t>::from_le_bytes(bytes.try_into().expect("split to the exact size")))
            }
        }
    )*};
}
wire_number!(u32, u64, f64);

impl Wire for usize {
    fn put(&self, out: &mut Vec<u8>) {
        (*self as u64).put(out);
    }
    fn take(input: &mut &[u8]) -> Result<Self, WireError> {
        usize::try_from(u64::take(input)?).map_err(|_| WireError::Invalid("index"))
    }
}

impl Wire for bool {
    fn put(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
    fn take(input: &mut &[u8]) -> Result<Self, WireError> {
        match split_front(input, 1)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(WireError::Invalid("boolean")),
        }
    }
}

impl Wire for String {
    fn put(&self, out: &mut Vec<u8>) {
        self.len().put(out);
        out.extend_from_slice(self.as_bytes());
    }
    fn take(input: &mut &[u8]) -> Result<Self, WireError> {
        let len = usize::take(input)?;
        let bytes = split_front(input, len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| WireError::Invalid("UTF-8 string"))
    }
}

impl<T: Wire> Wire for Vec<T> {
    fn put(&self, out: &mut Vec<u8>) {
        self.len().put(out);
        for item in self {
            item.put(out);
        }
    }
    fn take(input: &mut &[u8]) -> Result<Self, WireError> {
        let len = usize::take(input)?;
        // Every element takes at least one byte: a corrupt length cannot make us allocate more
        // than the message itself could hold.
        if len > input.len() {
            return Err(WireError::Truncated {
                needed: len,
                left: input.len(),
            });
        }
        (0..len).map(|_| T::take(input)).collect()
    }
}

impl<T: Wire, E: Wire> Wire for Result<T, E> {
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            Ok(v) => {
                true.put(out);
                v.put(out);
            }
            Err(e) => {
                false.put(out);
                e.put(out);
            }
        }
    }
    fn take(input: &mut &[u8]) -> Result<Self, WireError> {
        Ok(if bool::take(input)? {
            Ok(T::take(input)?)
        } else {
            Err(E::take(input)?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        let v: Vec<Result<String, String>> = vec![Ok("Sleep time 0.1".into()), Err("boom".into())];
        assert_eq!(
            decode::<Vec<Result<String, String>>>(&encode(&v)).unwrap(),
            v
        );
        for x in [0.0, -1.5, f64::MAX, f64::MIN_POSITIVE] {
            assert_eq!(decode::<f64>(&encode(&x)).unwrap().to_bits(), x.to_bits());
        }
        assert_eq!(decode::<usize>(&encode(&usize::MAX)).unwrap(), usize::MAX);
    }

    #[test]
    fn truncated_and_trailing_bytes_are_errors() {
        let bytes = encode(&"hello".to_string());
        assert!(matches!(
            decode::<String>(&bytes[..bytes.len() - 1]),
            Err(WireError::Truncated { .. })
        ));
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode::<String>(&longer), Err(WireError::Trailing(1)));
        assert_eq!(decode::<bool>(&[7]), Err(WireError::Invalid("boolean")));
    }

    #[test]
    fn a_corrupt_length_does_not_allocate_wildly() {
        let bytes = encode(&(u64::MAX / 2));
        assert!(decode::<Vec<u32>>(&bytes).is_err());
    }
}
