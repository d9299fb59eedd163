"""The agent turn: build the model's context, call the model, store and stream the reply."""
