//! Llama-family LLM with LoRA and media projection, constrained decoding
