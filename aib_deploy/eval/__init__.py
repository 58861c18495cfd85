"""`aib eval`: how well a model classifies, and how well its attention points at the object, on the
user's own labelled data (`datasets` reads it, `run` scores it, `sheet` draws the best and worst frames)."""
