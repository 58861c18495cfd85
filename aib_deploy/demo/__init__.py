"""`aib demo` and what stands behind the bundled demo model: its training
objective (`training`) and the scores of how well attention points at the
object (`localization`)."""
