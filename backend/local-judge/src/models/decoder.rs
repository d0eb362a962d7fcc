//! (being written) decoder score head shared by Qwen2, Qwen3 and Llama.
