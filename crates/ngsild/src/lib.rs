//! The NGSI-LD information model, JSON-LD term handling and the query language.
//!
//! Pure: no HTTP, no SQL, no I/O. Both the storage backends and the HTTP API depend on
//! this crate; it depends on neither.
//!
//! # Layout
//! - [`context`]: `@context` processing — expand short names to IRIs, compact them back;
//! - [`entity`]: [`entity::Entity`] and [`entity::Attribute`], parsing client JSON into
//!   them (with validation), rendering them back, and the update semantics;
//! - [`geo`]: GeoJSON geometry validation;
//! - [`query`]: the query language `q` (parse, print, evaluate);
//! - [`error`]: the NGSI-LD error kinds.

pub mod context;
pub mod entity;
pub mod error;
pub mod geo;
pub mod geoquery;
pub mod query;
pub mod subscription;

pub use context::Context;
pub use entity::{AttrKind, Attribute, Entity};
pub use error::{ErrorKind, NgsiError};
