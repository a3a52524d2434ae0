//! Reading an ask's reply back into an owned value.
//!
//! Owns: [`read_reply`]. Replies are always validated with rkyv's checked access
//! before they are deserialized: the asker knows the reply type only through
//! the ref's static type, and a ref of the wrong type must give an error, never
//! a misread. Must never: use unchecked access.

use rkyv::rancor;

use crate::actor::message::Reply;
use crate::error::AskError;

/// Validates `bytes` as an archived `R` and deserializes it.
pub(crate) fn read_reply<R: Reply>(bytes: &[u8]) -> Result<R, AskError> {
    let archived =
        rkyv::access::<R::Archived, rancor::Error>(bytes).map_err(|e| AskError::BadReply(e.to_string()))?;
    rkyv::deserialize::<R, rancor::Error>(archived).map_err(|e| AskError::BadReply(e.to_string()))
}
