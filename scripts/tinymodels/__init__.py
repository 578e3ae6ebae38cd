"""Shared by the tiny random-weight model generators (make-tiny-gemma, make-tiny-encoder).

common: gguf-py from the extracted llama.cpp tree, float rounding as torch and gguf-py round,
the safetensors writer, and the --set / --drop hostile-metadata options.
sentence_transformers: the sentence-transformers module files of an embedding model's HF directory.
"""
