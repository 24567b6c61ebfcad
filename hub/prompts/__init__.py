"""The prompt library: templates with variables, their versions, favorites, suggestions, "use in
a room" and batches from the library (docs/prompts.md)."""
