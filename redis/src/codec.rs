//! How keys and values become bytes in Redis.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Turns keys and values into bytes for Redis and back.
///
/// A key's Redis name is the namespace followed by `encode(key)`, so an
/// encoding must be deterministic (equal keys give equal bytes) and
/// `decode(encode(k))` must give back `k`: invalidation messages from Redis
/// name keys by their bytes, and the tier decodes them to find the L1 entry.
///
/// The default is [`Postcard`]. Another format plugs in like this:
///
/// ```
/// use shardcache_redis::{Codec, CodecError};
///
/// /// JSON-ish stand-in: any serde format works the same way.
/// struct MyCodec;
///
/// impl Codec for MyCodec {
///     fn encode<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>, CodecError> {
///         postcard::to_stdvec(value).map_err(CodecError::new)
///     }
///     fn decode<T: serde::de::DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
///         postcard::from_bytes(bytes).map_err(CodecError::new)
///     }
/// }
///
/// let bytes = MyCodec.encode(&42u32).unwrap();
/// assert_eq!(MyCodec.decode::<u32>(&bytes).unwrap(), 42);
/// ```
pub trait Codec: Send + Sync + 'static {
    /// Serializes `value`.
    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>, CodecError>;
    /// Deserializes bytes made by [`encode`](Self::encode). Bytes that are
    /// not a valid `T` (written by another program, or corrupt) must give an
    /// error, never a panic.
    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError>;
}

/// The default codec: [postcard](https://docs.rs/postcard), a compact,
/// non-self-describing serde format (varint integers, length-prefixed
/// strings) with a stable, documented wire format.
///
/// ```
/// use shardcache_redis::{Codec, Postcard};
/// let bytes = Postcard.encode(&("user", 7u64)).unwrap();
/// assert_eq!(bytes, b"\x04user\x07");
/// assert_eq!(Postcard.decode::<(String, u64)>(&bytes).unwrap(), ("user".into(), 7));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Postcard;

impl Codec for Postcard {
    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>, CodecError> {
        postcard::to_stdvec(value).map_err(CodecError::new)
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        postcard::from_bytes(bytes).map_err(CodecError::new)
    }
}

/// A key or value that could not be encoded or decoded.
///
/// ```
/// let error = shardcache_redis::CodecError::new("bad varint");
/// assert_eq!(error.to_string(), "codec error: bad varint");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodecError {
    message: String,
}

impl CodecError {
    /// An error with the codec's own description.
    pub fn new(message: impl fmt::Display) -> Self {
        CodecError {
            message: message.to_string(),
        }
    }

    /// The codec's description of the error.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "codec error: {}", self.message)
    }
}

impl std::error::Error for CodecError {}
