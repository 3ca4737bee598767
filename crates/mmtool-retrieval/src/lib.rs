//! Semantic retrieval over tool cards with all-MiniLM-L6-v2
