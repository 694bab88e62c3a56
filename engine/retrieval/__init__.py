"""Finding the passages that answer a question: hybrid dense + keyword retrieval."""
