"""Colour-texture liveness test: LBP histograms of the face in HSV and YCbCr, a linear classifier."""
