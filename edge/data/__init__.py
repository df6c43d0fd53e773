"""Bundled data: the sample video (sample.mp4, built by scripts/make_sample_video.py) and its ground truth."""
