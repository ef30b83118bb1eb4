"""The study's pipeline: the notebooks' arc, recipe and model choice, run reuse, results, reports, plots, runner."""
