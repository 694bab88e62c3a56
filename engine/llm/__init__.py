"""Chat models: reading GGUF files, the list of installed models, and running them.

`gguf_info` reads a GGUF header, `registry` keeps the installed models, `runtime` runs one
with llama.cpp. Nothing here imports llama_cpp at module level: the window opens first.
"""
