"""Reports, the review queue, hide/restore with a reason, the prompt block-list and trust levels."""
