"""chinwag's terminal app; ``tui.client`` is its HTTP client and never imports Textual."""
