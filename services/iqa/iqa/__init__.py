"""iqa: whole-image quality liveness test (Galbally et al. 2014 measures + shrinkage LDA)."""
