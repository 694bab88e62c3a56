"""Storage of a collection: the SQLite catalogue, the FAISS vector index, the embedder."""
