//! Semantic retrieval over tool cards with all-MiniLM-L6-v2.
//!
//! - [`minilm`]: the sentence encoder (candle BERT, mean pooling, L2 norm).
//! - [`index`]: one vector per tool (card text mixed with the centroid of its
//!   training instructions), cached by catalog fingerprint and model id.
//! - [`search`]: exact top-n by dot product.
//! - [`recommender`]: the `retrieval` backend and the `candidates` shortlist API.
//! - [`adapter`]: contrastive fine-tuning of the query side.
//! - [`tuned`]: LoRA fine-tuning of the encoder's top layers (query side).
//! - [`eval`]: recall@k, the training dev split, held-out tools.

pub mod adapter;
pub mod eval;
pub mod index;
pub mod minilm;
pub mod recommender;
pub mod search;
pub mod store;
pub mod tuned;

pub use index::{CardIndex, IndexConfig};
pub use minilm::MiniLm;
pub use recommender::{RetrievalConfig, RetrievalRecommender};
