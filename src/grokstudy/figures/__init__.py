"""Study figures: one function per figure, each saved as PNG, PDF and the CSV behind it."""
