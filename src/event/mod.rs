//! Decoding: from a message to a typed CloudTrail record, and from a record to the document that
//! is indexed.

pub mod bound;
pub mod cloudtrail;
pub mod document;
pub mod ecs;
pub mod encode;
pub mod facts;
pub mod fields;
pub mod filter;
pub mod iam_action;
pub mod iam_map;
pub mod json_escape;
pub mod json_scan;
pub mod minting;
