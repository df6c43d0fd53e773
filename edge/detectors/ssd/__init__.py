"""SSD-style detectors (BlazeFace): anchor layouts (``anchors``) and pure numpy decoding, letterboxing
and tiling (``decode``)."""
