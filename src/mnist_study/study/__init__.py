"""The study's steps: experiments, the recipe search, the best models, training costs, label review."""
