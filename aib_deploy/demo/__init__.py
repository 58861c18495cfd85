"""`aib demo` and what stands behind the bundled demo model: its training objective (`training`)."""
