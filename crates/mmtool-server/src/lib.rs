//! HTTP API and web demo
