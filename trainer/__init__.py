"""Hearth's trainer: fine-tune the GGUF chat model on your own data with LoRA / QLoRA.

It runs as its own process (`python -m trainer`), prints one JSON event per line
(trainer.events), records each run under `<home>/runs/` (trainer.runs), and writes adapters
as GGUF LoRA files that the engine applies to the very same model file. It never imports the
desktop app; the engine never imports it.
"""
