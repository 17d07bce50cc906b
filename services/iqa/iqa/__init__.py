"""iqa: whole-image quality liveness test (Galbally et al. 2014 measures + shrinkage LDA)."""

from liveness.registry import TestSpec

# The test's one declaration, named by pyproject.toml's `liveness.tests` entry point (see liveness.registry).
TEST = TestSpec(
    name="iqa",
    port=50061,
    summary="whole-image quality features and a linear classifier; cheap, no face needed",
    model="iqa.model:IqaModel",
    settings="iqa.model:IqaSettings",
)
