"""Pictures in and out: reading images, folders and videos, drawing results onto
frames, and the synthetic glyph images and videos the demo and calibration use."""
