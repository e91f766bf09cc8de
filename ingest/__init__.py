"""The ingestion job: load article files, chunk them, embed the chunks and keep the Chroma index in step."""
